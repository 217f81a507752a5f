// Security headers on every response (helmet; per-content-type CSP) and hygiene for the JSON POST routes.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import helmet, { type HelmetOptions } from 'helmet';
import { CHECKOUT_JS_URLS, type Region } from '../amazon-pay/endpoints.ts';
import type { AppSettings } from '../app-types.ts';
import { isApiRequest, sendApiError, sendError } from './errors.ts';

export type CspDirectives = Readonly<Record<string, readonly string[]>>;

/** The route of the start page (routes/browser.ts): the only page that may load Amazon's checkout.js. */
export const START_PAGE_ROUTE = '/checkout';

/**
 * Origins Amazon's checkout.js talks to, per region, beside its own script host. Amazon publishes no CSP
 * list: this is an assumption (the button, its sign-in frames and images live on Amazon's domains of the
 * region and on payments-amazon.com). It applies to the start page in real-Amazon mode only; a CSP
 * violation in the browser console after a key or region change is the sign to extend it here.
 */
export const AMAZON_CHECKOUT_ORIGINS: Readonly<Record<Region, readonly string[]>> = {
  na: ['https://*.amazon.com', 'https://*.payments-amazon.com'],
  eu: [
    'https://*.amazon.eu',
    'https://*.amazon.co.uk',
    'https://*.amazon.de',
    'https://*.amazon.fr',
    'https://*.amazon.it',
    'https://*.amazon.es',
    'https://*.payments-amazon.com',
  ],
  jp: ['https://*.amazon.co.jp', 'https://*.payments-amazon.com'],
};

/** JSON and every other non-HTML body: nothing may load, nothing may frame it. */
export const JSON_DIRECTIVES: CspDirectives = {
  'default-src': ["'none'"],
  'frame-ancestors': ["'none'"],
};

export function pageDirectives(settings: Pick<AppSettings, 'button'>): CspDirectives {
  const formAction = ["'self'"];
  // The simulator's button is a form posting to the simulator's hosted sign-in page.
  if (settings.button.mode === 'simulator')
    formAction.push(new URL(settings.button.simulatorSignInUrl).origin);
  return {
    'default-src': ["'none'"],
    'style-src': ["'self'"],
    'script-src': ["'self'"],
    'img-src': ["'self'", 'data:'],
    'connect-src': ["'self'"],
    'form-action': formAction,
    'frame-ancestors': ["'none'"],
    'base-uri': ["'none'"],
  };
}

function regionOfCheckoutJs(url: string): Region {
  const entry = Object.entries(CHECKOUT_JS_URLS).find(([, known]) => known === url);
  // compose.ts takes the URL from the same table; anything else is a programming error, not a config one.
  if (!entry) throw new Error(`no CSP origins known for checkout.js at ${url}`);
  return entry[0] as Region;
}

/** The start page in real-Amazon mode: the page policy plus exactly what checkout.js needs. */
export function amazonStartPageDirectives(checkoutJsUrl: string): CspDirectives {
  const amazon = AMAZON_CHECKOUT_ORIGINS[regionOfCheckoutJs(checkoutJsUrl)];
  const base = pageDirectives({ button: { mode: 'amazon', checkoutJsUrl } });
  return {
    'default-src': base['default-src']!,
    'style-src': base['style-src']!,
    'script-src': [...base['script-src']!, new URL(checkoutJsUrl).origin],
    'img-src': [...base['img-src']!, ...amazon],
    'connect-src': [...base['connect-src']!, ...amazon],
    'frame-src': [...amazon],
    'form-action': base['form-action']!,
    'frame-ancestors': base['frame-ancestors']!,
    'base-uri': base['base-uri']!,
  };
}

export function cspHeader(directives: CspDirectives): string {
  return Object.entries(directives)
    .map(([name, values]) => `${name} ${values.join(' ')}`)
    .join(';');
}

/** HSTS only where the public URL is https: on plain http the browser ignores it, and localhost must not get it. */
export function isHttpsPublicUrl(publicBaseUrl: string): boolean {
  return new URL(publicBaseUrl).protocol === 'https:';
}

const HSTS_MAX_AGE_SECONDS = 31_536_000;

function helmetOptions(settings: AppSettings, directives: CspDirectives): HelmetOptions {
  return {
    contentSecurityPolicy: { useDefaults: false, directives },
    // No includeSubDomains: the service usually lives on a merchant's domain whose other hosts it does not own.
    strictTransportSecurity: isHttpsPublicUrl(settings.publicBaseUrl)
      ? { maxAge: HSTS_MAX_AGE_SECONDS, includeSubDomains: false }
      : false,
    referrerPolicy: { policy: 'no-referrer' },
    xFrameOptions: { action: 'deny' },
    crossOriginOpenerPolicy: { policy: 'same-origin' },
    crossOriginResourcePolicy: { policy: 'same-origin' },
  };
}

type HeaderSet = Readonly<Record<string, string>>;

/** The headers helmet's middleware writes for these options, captured once (helmet rebuilds them per call). */
function helmetHeaders(options: HelmetOptions): HeaderSet {
  const headers: Record<string, string> = {};
  const response = {
    setHeader(name: string, value: unknown) {
      headers[name.toLowerCase()] = String(value);
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
  };
  helmet(options)({} as IncomingMessage, response as unknown as ServerResponse, () => {});
  return Object.freeze(headers);
}

interface HeaderSets {
  /** JSON, redirects, assets: the strictest policy. */
  json: HeaderSet;
  page: HeaderSet;
  /** The start page: in real-Amazon mode it may load checkout.js and its frames. */
  startPage: HeaderSet;
}

const headerSetsBySettings = new WeakMap<AppSettings, HeaderSets>();

/** Every response's security headers, built once per app from helmet: nothing is rebuilt per request. */
export function securityHeaderSets(settings: AppSettings): HeaderSets {
  let sets = headerSetsBySettings.get(settings);
  if (!sets) {
    const page = helmetHeaders(helmetOptions(settings, pageDirectives(settings)));
    sets = {
      json: helmetHeaders(helmetOptions(settings, JSON_DIRECTIVES)),
      page,
      startPage:
        settings.button.mode === 'amazon'
          ? helmetHeaders({
              ...helmetOptions(settings, amazonStartPageDirectives(settings.button.checkoutJsUrl)),
              // Should checkout.js open Amazon's sign-in in a popup, the popup keeps its opener.
              crossOriginOpenerPolicy: { policy: 'same-origin-allow-popups' },
            })
          : page,
    };
    headerSetsBySettings.set(settings, sets);
  }
  return sets;
}

/** The headers of a page (HTML) or of anything else, also for the answers Fastify writes before any hook. */
export function baselineHeaders(settings: AppSettings, html: boolean): HeaderSet {
  const sets = securityHeaderSets(settings);
  return html ? sets.page : sets.json;
}

function isHtml(reply: FastifyReply): boolean {
  const type = reply.getHeader('content-type');
  return typeof type === 'string' && type.toLowerCase().startsWith('text/html');
}

/**
 * Fastify's `frameworkErrors` hook (app.ts): bad %-escapes and over-long path parameters are answered before
 * any route or hook, so the headers and the error shape are applied here.
 */
export function onFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const html = !isApiRequest(request);
  reply.header('x-request-id', request.id);
  reply.headers(baselineHeaders(request.server.checkout.settings, html));
  const status =
    error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 400;
  sendError(request, reply, status);
}

function mediaType(header: string | undefined): string {
  return (header ?? '').split(';', 1)[0]!.trim().toLowerCase();
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** The port of a plain-http loopback URL (`''` for the default), undefined for anything else. */
export function loopbackPort(origin: string): string | undefined {
  try {
    const url = new URL(origin);
    return url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname) ? url.port : undefined;
  } catch {
    return undefined;
  }
}

/**
 * PUBLIC_BASE_URL's origin, or, for a plain-http loopback PUBLIC_BASE_URL only, another loopback name on the
 * same port: on a developer's machine the start page may be opened as localhost while the configuration says
 * 127.0.0.1 (its script then moves to the configured name). Both are this machine, so nothing opens to others.
 */
export function isAcceptedOrigin(origin: string, publicOrigin: string): boolean {
  if (origin === publicOrigin) return true;
  const publicPort = loopbackPort(publicOrigin);
  return publicPort !== undefined && loopbackPort(origin) === publicPort;
}

/** Why a JSON POST counts as cross-site, or undefined when it does not. */
export function crossSiteReason(request: FastifyRequest, publicOrigin: string): string | undefined {
  if (request.headers['sec-fetch-site'] === 'cross-site') return 'sec-fetch-site';
  const origin = request.headers.origin;
  // `Origin: null` (sandboxed frames, some redirects) is not our origin either.
  if (origin !== undefined && !isAcceptedOrigin(origin, publicOrigin)) return 'origin';
  return undefined;
}

async function securityPlugin(app: FastifyInstance): Promise<void> {
  const { settings } = app.checkout;
  const publicOrigin = new URL(settings.publicBaseUrl).origin;
  const headers = securityHeaderSets(settings);

  // onSend runs for every answer, also those an earlier onRequest hook (rate limit, drain gate) wrote itself.
  app.addHook('onSend', async (request, reply, payload) => {
    if (!isHtml(reply)) reply.headers(headers.json);
    else if (request.routeOptions.url === START_PAGE_ROUTE && reply.statusCode === 200)
      reply.headers(headers.startPage);
    else reply.headers(headers.page);
    return payload;
  });

  // Hygiene for the JSON POST routes, after the rate limit (onRequest) and before any body is read.
  app.addHook('preParsing', (request, reply, payload, done) => {
    if (request.method !== 'POST' || !request.routeOptions.url?.startsWith('/api/')) {
      done(null, payload);
      return;
    }
    const reason = crossSiteReason(request, publicOrigin);
    if (reason) {
      // The browser's own Origin header is no secret and tells a developer which PUBLIC_BASE_URL is expected.
      request.log.warn(
        { reason, origin: request.headers.origin, expectedOrigin: publicOrigin },
        'cross-site request refused',
      );
      // Answering without calling done() ends the request here.
      sendApiError(reply, 403, 'cross-site-request', 'Cross-site requests are not accepted.');
      return;
    }
    // A cross-site form or a "simple" fetch cannot send application/json without a CORS preflight.
    if (mediaType(request.headers['content-type']) !== 'application/json') {
      sendError(request, reply, 415);
      return;
    }
    done(null, payload);
  });
}

export default fp(securityPlugin, { name: 'security', dependencies: ['checkout-services'] });
