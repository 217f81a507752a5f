// Exposes the checkout services to route handlers as `app.checkout` (thin handlers, services do the work).
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { AppDeps } from '../app-types.ts';

declare module 'fastify' {
  interface FastifyInstance {
    checkout: AppDeps;
  }
}

async function servicesPlugin(app: FastifyInstance, deps: AppDeps): Promise<void> {
  app.decorate('checkout', deps);
}

export default fp(servicesPlugin, { name: 'checkout-services', fastify: '5.x' });
