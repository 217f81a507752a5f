// Serves the pages' own CSS and JS (the CSP allows scripts and styles from 'self' only).
import type { FastifyInstance } from 'fastify';
import { STATIC_ASSETS } from '../views/assets.ts';

export default async function assetRoutes(app: FastifyInstance): Promise<void> {
  // Browsers ask for it on every page; an empty answer keeps 404 noise out of the logs and metrics.
  app.get('/favicon.ico', { logLevel: 'warn' }, async (_request, reply) =>
    reply.code(204).header('cache-control', 'public, max-age=86400').send(),
  );
  for (const [path, asset] of STATIC_ASSETS) {
    app.get(path, async (request, reply) => {
      if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
      return reply
        .type(asset.contentType)
        .header('etag', asset.etag)
        .header('cache-control', 'public, max-age=300')
        .send(asset.body);
    });
  }
}
