// Request ids (a valid incoming x-request-id is kept, echoed on every response), one access-log line per request
// that names the route template, never the raw URL (it carries the checkout session id), and the drain gate.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hashSessionId, isValidCheckoutSessionId } from '../checkout/completion.ts';
import { sendError } from './errors.ts';

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{8,128}$/;

/** Routes that keep answering while the process drains: probes must see the 503, scrapers the last numbers. */
const OPEN_WHILE_DRAINING = new Set(['/health/live', '/health/ready', '/metrics']);

/** The checkout session a request is about (path or return query), as the same hash completion lines carry. */
function sessionOf(request: FastifyRequest): string | undefined {
  const params = request.params as { checkoutSessionId?: unknown } | undefined;
  const query = request.query as
    | { amazonCheckoutSessionId?: unknown; checkoutSessionId?: unknown }
    | undefined;
  const id = params?.checkoutSessionId ?? query?.amazonCheckoutSessionId ?? query?.checkoutSessionId;
  return isValidCheckoutSessionId(id) ? hashSessionId(id) : undefined;
}

export function genReqId(req: IncomingMessage): string {
  const incoming = req.headers['x-request-id'];
  return typeof incoming === 'string' && REQUEST_ID_PATTERN.test(incoming) ? incoming : randomUUID();
}

async function requestContextPlugin(app: FastifyInstance): Promise<void> {
  const draining = app.checkout.draining ?? (() => false);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    // The listener stays open during the drain so probes read 503 instead of a refused connection; new work
    // is refused, and `connection: close` sends keep-alive clients to another instance.
    if (draining() && !OPEN_WHILE_DRAINING.has(request.routeOptions.url ?? '')) {
      reply.header('connection', 'close').header('retry-after', '5');
      return sendError(request, reply, 503);
    }
  });
  app.addHook('onResponse', async (request, reply) => {
    const session = sessionOf(request);
    request.log.info(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        // Joins this request id to the completion lines, which are logged outside any one request.
        ...(session ? { session } : {}),
        status: reply.statusCode,
        durationMs: Math.round(reply.elapsedTime * 100) / 100,
      },
      'request completed',
    );
  });
}

export default fp(requestContextPlugin, { name: 'request-context', dependencies: ['checkout-services'] });
