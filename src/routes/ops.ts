// Operations routes: liveness (the process answers) and readiness (store, key, not draining).
import type { FastifyInstance } from 'fastify';

export default async function opsRoutes(app: FastifyInstance): Promise<void> {
  const { store, readiness } = app.checkout;

  // Checks nothing else on purpose: a slow database must not get a healthy process restarted.
  app.get('/health/live', { logLevel: 'warn' }, async (_request, reply) =>
    reply.header('cache-control', 'no-store').send({ status: 'ok' }),
  );

  app.get('/health/ready', { logLevel: 'warn' }, async (request, reply) => {
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
