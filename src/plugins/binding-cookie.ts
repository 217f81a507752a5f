// The signed browser-binding cookie (DESIGN §8): HttpOnly, SameSite=Lax, Secure but on plain-http localhost,
// scoped to the two route prefixes that need it, as short-lived as the binding itself.
import cookie from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { isValidBindingId } from '../checkout/binding.ts';
import type { Binding } from '../store/store.ts';

export const BINDING_COOKIE = 'amazon_pay_binding';
/** The return/result pages and the JSON routes; the cookie is sent nowhere else. */
export const BINDING_COOKIE_PATHS = ['/checkout/amazon-pay', '/api/amazon-pay'] as const;

declare module 'fastify' {
  interface FastifyRequest {
    /** The binding id from a valid, untampered cookie, or undefined. */
    bindingId(): string | undefined;
  }
  interface FastifyReply {
    setBindingCookie(binding: Binding): FastifyReply;
  }
}

async function bindingCookiePlugin(app: FastifyInstance): Promise<void> {
  const { cookieSecret, secureCookies } = app.checkout.settings;
  await app.register(cookie, { secret: cookieSecret, hook: 'onRequest' });

  app.decorateRequest('bindingId', function bindingId(this: FastifyRequest) {
    const raw = this.cookies[BINDING_COOKIE];
    if (!raw) return undefined;
    const result = this.unsignCookie(raw);
    return result.valid && isValidBindingId(result.value) ? result.value : undefined;
  });

  app.decorateReply('setBindingCookie', function setBindingCookie(this: FastifyReply, binding: Binding) {
    const maxAge = Math.max(1, Math.floor((binding.expiresAt - binding.createdAt) / 1000));
    for (const path of BINDING_COOKIE_PATHS) {
      this.setCookie(BINDING_COOKIE, binding.bindingId, {
        signed: true,
        httpOnly: true,
        // Lax, not Strict: the return from Amazon is a cross-site top-level navigation that must carry it.
        sameSite: 'lax',
        secure: secureCookies,
        path,
        maxAge,
      });
    }
    return this;
  });
}

export default fp(bindingCookiePlugin, { name: 'binding-cookie', dependencies: ['checkout-services'] });
