// GET /metrics in Prometheus text (bearer token when METRICS_TOKEN is set) and, through fastify-metrics, the HTTP
// duration histogram by route template, method and status class, all on the service's own registry.
import { createHash, timingSafeEqual } from 'node:crypto';
// Brings the `config.rateLimit` route option into the types; /metrics opts out of any rate limit.
import type {} from '@fastify/rate-limit';
import * as promClient from '@prometheus-io/client';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fastifyMetricsModule from 'fastify-metrics';
import fp from 'fastify-plugin';
import { HTTP_DURATION_BUCKETS, Metrics } from '../metrics.ts';

// A CommonJS build with `exports.default`: Node's default import is the exports object itself.
const fastifyMetrics = fastifyMetricsModule.default;

export const METRICS_PATH = '/metrics';
/** Every request that matched no route shares this label: a raw URL would carry ids and explode the series. */
export const UNMATCHED_ROUTE = 'unmatched';

export interface MetricsPluginOptions {
  /** The service's instruments; a fresh set when absent (an app built without the composition root). */
  metrics?: Metrics | undefined;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The service's Prometheus instruments (fastify-metrics' own decorator is `metrics`). */
    serviceMetrics: Metrics;
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Compares digests so neither the token's content nor its length leaks through timing. */
export function bearerTokenMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  const presented = match?.[1] ?? '';
  return timingSafeEqual(digest(presented), digest(token)) && presented !== '';
}

async function metricsPlugin(app: FastifyInstance, options: MetricsPluginOptions): Promise<void> {
  const metrics = options.metrics ?? new Metrics();
  const token = app.checkout.settings.metricsToken;
  app.decorate('serviceMetrics', metrics);

  await app.register(fastifyMetrics, {
    promClient,
    // Our own route below: the plugin's endpoint would merge in the process-global registry and has no auth.
    endpoint: null,
    defaultMetrics: { enabled: true, register: metrics.registry },
    routeMetrics: {
      enabled: { histogram: true, summary: false },
      // Unmatched requests are measured too, under one label.
      registeredRoutesOnly: false,
      groupStatusCodes: true,
      routeBlacklist: [METRICS_PATH],
      overrides: {
        labels: {
          status: 'status_class',
          getRouteLabel: (request: FastifyRequest) => request.routeOptions.url ?? UNMATCHED_ROUTE,
        },
        histogram: {
          name: 'http_request_duration_seconds',
          help: 'HTTP request duration in seconds by method, route template and status class.',
          buckets: HTTP_DURATION_BUCKETS,
          registers: [metrics.registry],
        },
        // The plugin always builds its summary; registering it nowhere keeps it off every registry.
        summary: { registers: [] },
      },
    },
  });

  app.get(
    METRICS_PATH,
    {
      logLevel: 'warn',
      exposeHeadRoute: false,
      config: { disableMetrics: true, rateLimit: false },
    },
    async (request: FastifyRequest, reply: FastifyReply) => {
      reply.header('cache-control', 'no-store');
      if (token !== undefined && !bearerTokenMatches(request.headers.authorization, token)) {
        return reply
          .code(401)
          .header('www-authenticate', 'Bearer realm="metrics"')
          .type('application/json; charset=utf-8')
          .send({ error: { code: 'unauthorized', message: 'A valid bearer token is required.' } });
      }
      const text = await metrics.text();
      return reply.type(metrics.contentType).send(text);
    },
  );
}

export default fp(metricsPlugin, { name: 'service-metrics', dependencies: ['checkout-services'] });
