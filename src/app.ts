// buildApp(deps): the Fastify application as plugins and routes over the checkout services; nothing listens here.
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import type { AppDeps } from './app-types.ts';
import bindingCookie from './plugins/binding-cookie.ts';
import errors from './plugins/errors.ts';
import metrics from './plugins/metrics.ts';
import openapi from './plugins/openapi.ts';
import rateLimit from './plugins/rate-limit.ts';
import requestContext, { genReqId } from './plugins/request-context.ts';
import security, { onFrameworkError } from './plugins/security.ts';
import services from './plugins/services.ts';
import apiRoutes from './routes/api.ts';
import assetRoutes from './routes/assets.ts';
import browserRoutes from './routes/browser.ts';
import opsRoutes from './routes/ops.ts';

export const SERVER_LIMITS = {
  bodyLimit: 16 * 1024,
  requestTimeout: 30_000,
  connectionTimeout: 30_000,
  keepAliveTimeout: 72_000,
} as const;

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger,
    genReqId,
    // Our own access line (request-context plugin) names the route template, never the raw URL.
    logController: new LogController({ disableRequestLogging: true }),
    // A hop count is valid at runtime (proxy-addr) though Fastify's types omit it.
    trustProxy: (deps.settings.trustProxy ?? false) as boolean | string[],
    bodyLimit: SERVER_LIMITS.bodyLimit,
    requestTimeout: SERVER_LIMITS.requestTimeout,
    connectionTimeout: SERVER_LIMITS.connectionTimeout,
    keepAliveTimeout: SERVER_LIMITS.keepAliveTimeout,
    routerOptions: { maxParamLength: 200 },
    // Bad %-escapes and over-long ids are answered before any hook: this keeps headers and error shape.
    frameworkErrors: onFrameworkError,
  });
  await app.register(services, deps);
  // Before every other hook, so even early answers (drain 503, rate limit 429) carry the headers.
  await app.register(security);
  await app.register(requestContext);
  await app.register(errors);
  await app.register(metrics, { metrics: deps.metrics });
  await app.register(rateLimit);
  await app.register(bindingCookie);
  await app.register(openapi);
  await app.register(assetRoutes);
  await app.register(opsRoutes);
  await app.register(browserRoutes);
  await app.register(apiRoutes);
  return app;
}
