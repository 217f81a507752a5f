// Settings and dependencies the HTTP app is built from; server.ts derives them from the configuration.
import type { FastifyBaseLogger } from 'fastify';
import type { BindingService } from './checkout/binding.ts';
import type { ButtonConfigService } from './checkout/button-config.ts';
import type { CompletionService } from './checkout/completion.ts';
import type { Metrics } from './metrics.ts';
import type { CheckoutStore } from './store/store.ts';

export interface AppSettings {
  publicBaseUrl: string;
  /** Relative path or absolute URL on the public origin, validated by the configuration. */
  checkoutStartUrl: string;
  cookieSecret: string;
  /** `Secure` cookies everywhere but plain-http localhost development. */
  secureCookies: boolean;
  storeName: string;
  button: { mode: 'simulator'; simulatorSignInUrl: string } | { mode: 'amazon'; checkoutJsUrl: string };
  /** Seconds between refreshes of the "confirming" page. */
  confirmingRefreshSeconds: number;
  bindingTtlMs: number;
  rateLimitMax: number;
  trustProxy: boolean | number | string[] | undefined;
  metricsToken: string | undefined;
  redisUrl: string | undefined;
}

export interface AppDeps {
  settings: AppSettings;
  logger: FastifyBaseLogger;
  store: CheckoutStore;
  completion: CompletionService;
  bindings: BindingService;
  buttonConfig: ButtonConfigService;
  /** Extra readiness checks (key self-test result, draining flag). */
  readiness: () => { ready: boolean; reason?: string };
  /** True once shutdown began: new requests get 503 while work in flight finishes. */
  draining?: () => boolean;
  /** The service's Prometheus instruments, served at /metrics (a fresh set when absent). */
  metrics?: Metrics;
}
