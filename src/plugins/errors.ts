// One error handler and one not-found handler: JSON for /api, an HTML page elsewhere; 5xx details never leak.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { renderErrorPage } from '../views/pages.ts';

export function isApiRequest(request: FastifyRequest): boolean {
  return request.url.startsWith('/api/');
}

export function sendApiError(
  reply: FastifyReply,
  status: number,
  code: string,
  message: string,
): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send({ error: { code, message } });
}

const STATUS_TEXT: Record<number, { code: string; title: string; message: string }> = {
  400: { code: 'bad-request', title: 'Bad request', message: 'The request could not be understood.' },
  404: { code: 'not-found', title: 'Page not found', message: 'We could not find that page.' },
  413: { code: 'payload-too-large', title: 'Request too large', message: 'The request was too large.' },
  415: {
    code: 'unsupported-media-type',
    title: 'Unsupported media type',
    message: 'Send the request as application/json.',
  },
  429: {
    code: 'rate-limited',
    title: 'Too many requests',
    message: 'We are receiving many requests right now. Please try again in a moment.',
  },
  503: {
    code: 'unavailable',
    title: 'Temporarily unavailable',
    message: 'We are busy right now. Please try again in a moment.',
  },
};
const INTERNAL = {
  code: 'internal-error',
  title: 'Something went wrong',
  message: 'Something went wrong on our side. Please try again.',
};

export function sendError(request: FastifyRequest, reply: FastifyReply, status: number, override?: string) {
  const text = STATUS_TEXT[status] ?? (status >= 500 ? INTERNAL : STATUS_TEXT[400]!);
  if (isApiRequest(request)) return sendApiError(reply, status, text.code, override ?? text.message);
  return reply
    .code(status)
    .type('text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .send(
      renderErrorPage({
        storeName: request.server.checkout.settings.storeName,
        statusCode: status,
        title: text.title,
        message: override ?? text.message,
        startUrl: request.server.checkout.settings.checkoutStartUrl,
      }),
    );
}

async function errorsPlugin(app: FastifyInstance): Promise<void> {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status =
      error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    if (status >= 500) {
      // The stack goes to the log (which never holds buyer data); the client gets a generic text.
      request.log.error(
        { err: { type: error.name, message: error.message, stack: error.stack } },
        'request failed',
      );
      return sendError(request, reply, status);
    }
    if (error.validation) {
      return sendError(request, reply, 400, 'The request is not valid.');
    }
    if (status === 429 && error.message) return sendError(request, reply, 429);
    // 4xx from Fastify itself (body too large, bad JSON, media type): its message is safe and useful.
    return sendError(request, reply, status, STATUS_TEXT[status] ? undefined : 'The request is not valid.');
  });
  app.setNotFoundHandler((request, reply) => sendError(request, reply, 404));
}

export default fp(errorsPlugin, { name: 'errors', dependencies: ['checkout-services'] });
