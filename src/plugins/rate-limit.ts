// Per-client request limits on the return route and the JSON routes, shared through Redis when several run.
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Redis } from 'ioredis';
import { RETURN_PATH } from '../routes/browser.ts';

export const RATE_LIMIT_WINDOW_MS = 60_000;
/** Key namespace inside Redis; a `?keyPrefix=` on REDIS_URL (ioredis) separates deployments sharing one Redis. */
export const RATE_LIMIT_NAMESPACE = 'checkout-rate-limit:';
/** Short enough that a Redis outage costs a request at most this much, never a checkout. */
const REDIS_CONNECT_TIMEOUT_MS = 1_000;
const REDIS_COMMAND_TIMEOUT_MS = 500;

/** The limited routes: what reaches the store or Amazon. Pages, assets, health, metrics and docs stay open. */
export function isRateLimited(request: FastifyRequest): boolean {
  const route = request.routeOptions.url;
  return route === RETURN_PATH || route?.startsWith('/api/') === true;
}

export function createRedisClient(url: string): Redis {
  return new Redis(url, {
    connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    maxRetriesPerRequest: 1,
    // While Redis is away, commands fail at once (and the limiter lets the request through) instead of queueing
    // behind reconnects and holding the buyer's request.
    enableOfflineQueue: false,
  });
}

/** Resolves once the client is ready or has failed its first attempt, whichever comes first, within the timeout. */
function firstConnection(redis: Redis): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done);
      redis.off('error', done);
      resolve();
    };
    const timer = setTimeout(done, REDIS_CONNECT_TIMEOUT_MS);
    redis.once('ready', done);
    redis.once('error', done);
  });
}

async function rateLimitPlugin(app: FastifyInstance): Promise<void> {
  const { rateLimitMax, redisUrl } = app.checkout.settings;
  if (rateLimitMax === 0) return;

  let redis: Redis | undefined;
  if (redisUrl) {
    const client = createRedisClient(redisUrl);
    redis = client;
    // ioredis reconnects on its own and emits an error per failed attempt: one warning per outage is enough.
    let healthy = true;
    client.on('error', (err: Error) => {
      if (!healthy) return;
      healthy = false;
      app.log.warn(
        { err: { type: err.name, message: err.message } },
        'rate-limit Redis unreachable: requests are not limited until it is back',
      );
    });
    client.on('ready', () => {
      if (!healthy) app.log.info('rate-limit Redis reachable again');
      healthy = true;
    });
    app.addHook('onClose', async () => {
      await client.quit().catch(() => client.disconnect());
    });
    // Instances start with working shared counters when Redis is there, and do not wait long when it is not.
    await firstConnection(client);
  }

  await app.register(rateLimit, {
    // One bucket per client across all limited routes, so the limit means "requests per minute per client".
    global: true,
    allowList: (request) => !isRateLimited(request),
    max: rateLimitMax,
    timeWindow: RATE_LIMIT_WINDOW_MS,
    // The key is request.ip: X-Forwarded-For counts only through TRUST_PROXY (Fastify's trustProxy).
    ...(redis ? { redis, nameSpace: RATE_LIMIT_NAMESPACE } : {}),
    // A Redis outage must never block checkout: a failed counter lets the request through unlimited.
    skipOnError: true,
    // The thrown error reaches the errors plugin, which answers 429 as JSON on /api and as a page elsewhere.
    errorResponseBuilder: (_request, context) =>
      Object.assign(new Error('rate limit exceeded'), { statusCode: context.statusCode }),
  });
}

export default fp(rateLimitPlugin, { name: 'rate-limit', dependencies: ['checkout-services', 'errors'] });
