// Operations routes: liveness (the process answers) and readiness (store, key, not draining).
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from '@fastify/type-provider-zod';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';

// Deliberately bare: probes need a status, and nobody else needs versions or reasons (DESIGN §3).
const Ok = z.object({ status: z.literal('ok') });
const Unavailable = z.object({ status: z.literal('unavailable') });

export default async function opsRoutes(scope: FastifyInstance): Promise<void> {
  scope.setValidatorCompiler(validatorCompiler);
  scope.setSerializerCompiler(serializerCompiler);
  const app = scope.withTypeProvider<ZodTypeProvider>();
  const { store, readiness } = app.checkout;

  // Checks nothing else on purpose: a slow database must not get a healthy process restarted.
  app.get(
    '/health/live',
    {
      logLevel: 'warn',
      schema: {
        tags: ['operations'],
        operationId: 'live',
        summary: 'Liveness: the process answers. Checks nothing else.',
        response: { 200: Ok.describe('The process is up.') },
      },
    },
    async (_request, reply) => reply.header('cache-control', 'no-store').send({ status: 'ok' }),
  );

  const readySchema = {
    tags: ['operations'],
    operationId: 'ready',
    summary: 'Readiness: store reachable, signing key loaded and self-tested, not shutting down.',
    response: {
      200: Ok.describe('Ready for traffic.'),
      503: Unavailable.describe('Not ready (store unreachable, key not usable, or draining).'),
    },
  };
  app.get('/health/ready', { logLevel: 'warn', schema: readySchema }, async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const local = readiness();
    if (!local.ready) return reply.code(503).send({ status: 'unavailable' });
    try {
      await store.ping();
    } catch (err) {
      request.log.warn(
        { err: { type: (err as Error).name, message: (err as Error).message } },
        'store not reachable',
      );
      return reply.code(503).send({ status: 'unavailable' });
    }
    return reply.send({ status: 'ok' });
  });
}
