// The pino logger: JSON lines, no buyer data by construction (we log allow-listed fields), allow-list serializers
// for errors, requests and replies, and a redaction net for headers and key material logged by mistake.
import { KeyObject } from 'node:crypto';
import pino, { type DestinationStream, type Logger } from 'pino';

/**
 * The second net behind the allow-list serializers. Exact paths only: wildcard paths make pino walk every
 * logged object, which cost ~5 % of the main thread per return in `npm run bench`, while what we log is
 * chosen field by field anyway (and `scrub` below drops PEM text wherever it appears).
 */
export const REDACTED_PATHS = [
  'req.headers.cookie',
  'req.headers.authorization',
  'req.headers["set-cookie"]',
  'res.headers["set-cookie"]',
  'headers.cookie',
  'headers.authorization',
  'headers["set-cookie"]',
  'cookie',
  'authorization',
  '["set-cookie"]',
  'privateKey',
  'cookieSecret',
  'metricsToken',
  'token',
  'secret',
];

const CENSOR = '[redacted]';
const PEM_MARKER = '-----BEGIN';

/** Strings that carry a PEM block are dropped whole: a key must not reach a log even inside a message. */
function scrub(value: string): string {
  return value.includes(PEM_MARKER) ? CENSOR : value;
}

export interface SafeError {
  type: string;
  message: string;
  code?: string;
  stack?: string;
}

/**
 * Allow-list error serializer: errors from undici, pg or our client may carry request options, headers, bodies
 * or Amazon's response as own properties, so only these fields survive. The stack stays (frames are code
 * locations; its first line is the message, which is kept anyway) because a 5xx without it is not debuggable.
 */
export function serializeError(err: unknown): SafeError {
  if (err === null || typeof err !== 'object') return { type: typeof err, message: 'non-error value' };
  const source = err as {
    name?: unknown;
    type?: unknown;
    message?: unknown;
    code?: unknown;
    stack?: unknown;
  };
  const type = typeof source.name === 'string' && err instanceof Error ? source.name : source.type;
  const out: SafeError = {
    type: typeof type === 'string' ? type : 'Error',
    message: typeof source.message === 'string' ? scrub(source.message) : '',
  };
  if (typeof source.code === 'string') out.code = source.code;
  if (typeof source.stack === 'string') out.stack = scrub(source.stack);
  return out;
}

/**
 * Fastify hands its request object to this serializer; the raw URL is never logged because it carries the
 * checkout session id (query string or path), so only the method and the route template go out.
 */
export function serializeRequest(req: unknown): { method?: string; route?: string } {
  const source = req as { method?: unknown; routeOptions?: { url?: unknown } } | null;
  const out: { method?: string; route?: string } = {};
  if (typeof source?.method === 'string') out.method = source.method;
  if (source?.routeOptions)
    out.route = typeof source.routeOptions.url === 'string' ? source.routeOptions.url : 'unmatched';
  return out;
}

export function serializeReply(res: unknown): { statusCode?: number } {
  const statusCode = (res as { statusCode?: unknown } | null)?.statusCode;
  return typeof statusCode === 'number' ? { statusCode } : {};
}

function scrubFields(object: Record<string, unknown>): Record<string, unknown> {
  for (const [key, value] of Object.entries(object)) {
    if (typeof value === 'string' && value.includes(PEM_MARKER)) object[key] = CENSOR;
    else if (value instanceof KeyObject) object[key] = CENSOR;
  }
  return object;
}

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'amazon-pay-checkout' },
      timestamp: pino.stdTimeFunctions.isoTime,
      serializers: { err: serializeError, error: serializeError, req: serializeRequest, res: serializeReply },
      redact: { paths: REDACTED_PATHS, censor: CENSOR },
      formatters: { level: (label) => ({ level: label }), log: scrubFields },
      hooks: {
        logMethod(args, method) {
          const [first, ...rest] = args as unknown[];
          // pino would take a bare error's message as the line's text unscrubbed: give it the scrubbed one.
          const cleaned =
            first instanceof Error && typeof rest[0] !== 'string'
              ? [{ err: first }, scrub(first.message)]
              : args.map((arg) => (typeof arg === 'string' ? scrub(arg) : arg));
          return method.apply(this, cleaned as Parameters<typeof method>);
        },
      },
    },
    destination,
  );
}
