// Browser routes: the start page, the signInReturnUrl, and the result page. Thin: the services decide.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isValidCheckoutSessionId } from '../checkout/completion.ts';
import { MESSAGE_CATALOGUE, type MessageCode, messageFor } from '../checkout/messages.ts';
import { sendError } from '../plugins/errors.ts';
import { renderConfirmingPage, renderResultPage, renderStartPage } from '../views/pages.ts';

export const RETURN_PATH = '/checkout/amazon-pay/return';
export const resultPath = (checkoutSessionId: string) => `/checkout/amazon-pay/result/${checkoutSessionId}`;

const SESSION_ID_PARAMS = ['amazonCheckoutSessionId', 'checkoutSessionId'];

/**
 * Reads the session id from the raw query string so a repeated parameter (or both names) is seen and refused,
 * rather than silently picking one.
 */
export function sessionIdFromQuery(url: string): string | undefined {
  const q = url.indexOf('?');
  if (q < 0) return undefined;
  const params = new URLSearchParams(url.slice(q + 1));
  const values = SESSION_ID_PARAMS.flatMap((name) => params.getAll(name));
  if (values.length !== 1) return undefined;
  return isValidCheckoutSessionId(values[0]) ? values[0] : undefined;
}

export function failureLocation(startUrl: string, code: MessageCode): string {
  return `${startUrl}${startUrl.includes('?') ? '&' : '?'}error=${encodeURIComponent(code)}`;
}

function noStoreHtml(reply: FastifyReply): FastifyReply {
  return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store');
}

export default async function browserRoutes(app: FastifyInstance): Promise<void> {
  const { settings, completion } = app.checkout;
  const toStart = (reply: FastifyReply, code: MessageCode) =>
    reply.redirect(failureLocation(settings.checkoutStartUrl, code), 303);

  app.get(
    '/checkout',
    async (request: FastifyRequest<{ Querystring: { error?: string | string[] } }>, reply) => {
      const raw = request.query.error;
      const code = Array.isArray(raw) ? raw[0] : raw;
      const html = renderStartPage({
        storeName: settings.storeName,
        ...(code ? { message: messageFor(code) } : {}),
        button: settings.button,
        buttonConfigUrl: '/api/amazon-pay/button-config',
      });
      return noStoreHtml(reply).send(html);
    },
  );

  app.get(RETURN_PATH, async (request, reply) => {
    const checkoutSessionId = sessionIdFromQuery(request.url);
    if (!checkoutSessionId) return toStart(reply, 'invalid-session');
    const bindingId = request.bindingId();
    if (!bindingId) return toStart(reply, 'checkout-restart');
    const view = await completion.complete(checkoutSessionId, bindingId);
    switch (view.kind) {
      case 'completed':
      case 'pending':
        return reply.header('cache-control', 'no-store').redirect(resultPath(checkoutSessionId), 303);
      case 'failed':
        return toStart(reply, view.messageCode);
      case 'busy':
        // Nothing was claimed: a reload of this same URL later completes normally.
        return sendError(
          request,
          reply.header('retry-after', String(view.retryAfterSeconds)),
          503,
          MESSAGE_CATALOGUE.busy,
        );
      case 'binding-mismatch':
      case 'binding-unknown':
      case 'not-found':
        return toStart(reply, 'checkout-restart');
    }
  });

  app.get(
    '/checkout/amazon-pay/result/:checkoutSessionId',
    async (request: FastifyRequest<{ Params: { checkoutSessionId: string } }>, reply) => {
      const { checkoutSessionId } = request.params;
      if (!isValidCheckoutSessionId(checkoutSessionId)) return sendError(request, reply, 404);
      const bindingId = request.bindingId();
      if (!bindingId) return toStart(reply, 'checkout-restart');
      const view = await completion.status(checkoutSessionId, bindingId);
      switch (view.kind) {
        case 'completed':
          return noStoreHtml(reply).send(
            renderResultPage({
              storeName: settings.storeName,
              checkoutSessionId,
              buyer: view.record.buyer ?? {
                buyerId: null,
                name: null,
                email: null,
                phone: null,
                billingAddress: null,
                shippingAddress: null,
              },
              chargePermissionSaved: view.record.chargePermissionId !== null,
              startUrl: settings.checkoutStartUrl,
            }),
          );
        case 'pending':
          return noStoreHtml(reply).send(
            renderConfirmingPage({
              storeName: settings.storeName,
              checkoutSessionId,
              refreshSeconds: settings.confirmingRefreshSeconds,
              statusUrl: resultPath(checkoutSessionId),
            }),
          );
        case 'failed':
          return toStart(reply, view.messageCode);
        default:
          return toStart(reply, 'checkout-restart');
      }
    },
  );
}
