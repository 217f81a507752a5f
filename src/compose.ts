// The composition root: wires store, Amazon Pay client (or the built-in simulator), services, reconciler and the
// HTTP app from plain options. server.ts feeds it the configuration; tests feed it their own options.
import type { KeyObject } from 'node:crypto';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Dispatcher } from 'undici';
import {
  BULKHEAD_DEFAULTS,
  Bulkhead,
  type BulkheadOptions,
  CIRCUIT_STATE_VALUE,
  CircuitBreaker,
  type CircuitBreakerOptions,
  GuardedAmazonPay,
} from './amazon-pay/circuit-breaker.ts';
import { AmazonPayClient, type ClientEvent } from './amazon-pay/client.ts';
import type { Region } from './amazon-pay/endpoints.ts';
import { CHECKOUT_JS_URLS } from './amazon-pay/endpoints.ts';
import type { SigningAlgorithm } from './amazon-pay/signing.ts';
import type { AmazonPayApi } from './amazon-pay/types.ts';
import { buildApp } from './app.ts';
import type { AppSettings } from './app-types.ts';
import { BindingService, DEFAULT_BINDING_TTL_MS } from './checkout/binding.ts';
import { ButtonConfigService } from './checkout/button-config.ts';
import {
  type CompletionObserver,
  CompletionService,
  type CompletionServiceOptions,
} from './checkout/completion.ts';
import { Reconciler } from './checkout/reconciler.ts';
import { Metrics } from './metrics.ts';
import { loopbackPort } from './plugins/security.ts';
import { RETURN_PATH } from './routes/browser.ts';
import type { Simulator } from './simulator/index.ts';
import { startSimulator } from './simulator/index.ts';
import { createStore } from './store/index.ts';
import type { CheckoutStore } from './store/store.ts';

export interface ServiceOptions {
  logger: FastifyBaseLogger;
  databaseUrl: string;
  /** PostgreSQL pool size per process. */
  databasePoolMax?: number;
  sqliteSynchronous?: 'FULL' | 'NORMAL';
  /** PostgreSQL schema for the tables (tests isolate themselves with one per run). */
  storeSchema?: string;
  amazonPay: {
    publicKeyId: string;
    privateKey: KeyObject;
    publicKey: KeyObject;
    region: Region;
    sandbox: boolean;
    algorithm: SigningAlgorithm;
    apiBaseUrl: string | undefined;
    merchantId: string;
    storeId: string;
    attemptTimeoutMs: number;
    budgetMs: number;
    /**
     * Calls in flight per process: sizes both the connection pool and the bulkhead (and its queue), so the
     * bulkhead, not socket starvation, is what turns excess load away.
     */
    maxConcurrentCalls?: number;
    dispatcher?: Dispatcher;
  };
  /** Start the built-in simulator on this port and point the client at it. */
  simulator: { host: string; port: number; latencyMs?: number } | undefined;
  publicBaseUrl: string;
  checkoutStartUrl: string;
  cookieSecret: string;
  storeName?: string;
  rateLimitMax: number;
  trustProxy: boolean | number | string[] | undefined;
  metricsToken: string | undefined;
  redisUrl: string | undefined;
  returnWaitMs: number;
  reconcileIntervalMs: number;
  piiRetentionDays: number;
  /**
   * How long a claim protects a record. Default max(60 s, 3 × budget + 5 s); every drive is cut off before its
   * lease ends, so a shorter lease only makes crash recovery faster at the cost of drives giving up sooner.
   */
  leaseMs?: number;
  /** Breaker around Amazon calls (its clock defaults to `now`). */
  circuitBreaker?: Omit<CircuitBreakerOptions, 'now'>;
  /** Cap on concurrent Amazon calls and their queue. */
  bulkhead?: BulkheadOptions;
  bindingTtlMs?: number;
  confirmingRefreshSeconds?: number;
  now?: () => number;
  /** Replace the Amazon Pay client (tests of the service's own rules). */
  client?: AmazonPayApi;
  clientEvents?: (event: ClientEvent) => void;
  observer?: CompletionObserver;
  failpoint?: CompletionServiceOptions['failpoint'];
  /** Start the reconciler loop (tests drive `reconciler.runOnce()` themselves). */
  startReconciler?: boolean;
}

export interface Service {
  app: FastifyInstance;
  store: CheckoutStore;
  completion: CompletionService;
  reconciler: Reconciler;
  simulator: Simulator | undefined;
  client: AmazonPayApi;
  /** Prometheus instruments served at /metrics; `registerGauge` adds gauges of other modules. */
  metrics: Metrics;
  /** The breaker around Amazon calls: `state` and `onStateChange` for the circuit-state gauge. */
  circuit: CircuitBreaker;
  bulkhead: Bulkhead;
  /** Readiness flips to 503 as soon as this is called. */
  markDraining(): void;
  /** Stops the reconciler, waits for drives in flight, closes the app, the client and the store. */
  close(): Promise<void>;
}

/** Plain-http localhost is the only place a cookie may go without `Secure` (DESIGN §8). */
export function isPlainHttpLocalhost(publicBaseUrl: string): boolean {
  return loopbackPort(publicBaseUrl) !== undefined;
}

export async function createService(options: ServiceOptions): Promise<Service> {
  const { logger } = options;
  const now = options.now ?? Date.now;
  const store = createStore(options.databaseUrl, {
    logger,
    ...(options.sqliteSynchronous ? { synchronous: options.sqliteSynchronous } : {}),
    ...(options.databasePoolMax ? { poolMax: options.databasePoolMax } : {}),
    ...(options.storeSchema ? { schema: options.storeSchema } : {}),
  });
  await store.migrate();
  const metrics = new Metrics({ now });
  metrics.watchStore((at) => store.stats(at));

  let simulator: Simulator | undefined;
  let apiBaseUrl = options.amazonPay.apiBaseUrl;
  if (options.simulator) {
    simulator = await startSimulator({
      publicKeys: { [options.amazonPay.publicKeyId]: options.amazonPay.publicKey },
      host: options.simulator.host,
      port: options.simulator.port,
      ...(options.simulator.latencyMs ? { latencyMs: options.simulator.latencyMs } : {}),
    });
    apiBaseUrl = simulator.url;
  }

  const maxConcurrentCalls = options.amazonPay.maxConcurrentCalls ?? BULKHEAD_DEFAULTS.maxConcurrent;
  const ownClient =
    options.client === undefined
      ? new AmazonPayClient({
          publicKeyId: options.amazonPay.publicKeyId,
          privateKey: options.amazonPay.privateKey,
          region: options.amazonPay.region,
          sandbox: options.amazonPay.sandbox,
          algorithm: options.amazonPay.algorithm,
          ...(apiBaseUrl ? { apiBaseUrl } : {}),
          ...(options.amazonPay.dispatcher ? { dispatcher: options.amazonPay.dispatcher } : {}),
          attemptTimeoutMs: options.amazonPay.attemptTimeoutMs,
          budgetMs: options.amazonPay.budgetMs,
          connections: maxConcurrentCalls,
          onEvent: (event) => {
            metrics.clientEvent(event);
            options.clientEvents?.(event);
          },
        })
      : undefined;
  const rawClient: AmazonPayApi = options.client ?? (ownClient as AmazonPayClient);
  // Every Amazon call, the reconciler's included, goes through one breaker and one bulkhead per process.
  const circuit = new CircuitBreaker({ ...options.circuitBreaker, now });
  circuit.onStateChange((state, previous) =>
    logger.warn({ state, previous }, 'Amazon Pay circuit state changed'),
  );
  const bulkhead = new Bulkhead({
    maxConcurrent: maxConcurrentCalls,
    maxQueue: maxConcurrentCalls,
    maxQueueWaitMs: options.amazonPay.budgetMs,
    ...options.bulkhead,
  });
  const client = new GuardedAmazonPay(rawClient, { breaker: circuit, bulkhead });

  // The lease must outlive a whole drive (Complete, Get, Complete again) so no other worker takes over early.
  const leaseMs = options.leaseMs ?? Math.max(60_000, options.amazonPay.budgetMs * 3 + 5_000);
  const completion = new CompletionService({
    store,
    client,
    logger,
    now,
    leaseMs,
    returnWaitMs: options.returnWaitMs,
    observer: {
      outcome: (state, reasonCode, source) => {
        metrics.completionObserver.outcome(state, reasonCode, source);
        options.observer?.outcome(state, reasonCode, source);
      },
    },
    ...(options.failpoint ? { failpoint: options.failpoint } : {}),
    overloaded: () => client.overloaded,
  });
  const reconciler = new Reconciler({
    store,
    completion,
    logger,
    intervalMs: options.reconcileIntervalMs,
    leaseMs,
    piiRetentionDays: options.piiRetentionDays,
    now,
    onRun: metrics.reconcilerRun,
    paused: () => circuit.state === 'open',
  });
  const bindingTtlMs = options.bindingTtlMs ?? DEFAULT_BINDING_TTL_MS;
  const bindings = new BindingService({ store, ttlMs: bindingTtlMs, now });
  const cancelUrl = new URL(options.checkoutStartUrl, options.publicBaseUrl).href;
  const buttonConfig = new ButtonConfigService({
    client,
    merchantId: options.amazonPay.merchantId,
    storeId: options.amazonPay.storeId,
    region: options.amazonPay.region,
    sandbox: options.amazonPay.sandbox,
    publicBaseUrl: options.publicBaseUrl,
    returnPath: RETURN_PATH.slice(1),
    cancelUrl,
  });

  const settings: AppSettings = {
    publicBaseUrl: options.publicBaseUrl,
    checkoutStartUrl: options.checkoutStartUrl,
    cookieSecret: options.cookieSecret,
    secureCookies: !isPlainHttpLocalhost(options.publicBaseUrl),
    storeName: options.storeName ?? 'Example Store',
    button: simulator
      ? { mode: 'simulator', simulatorSignInUrl: `${simulator.url}/checkout/sign-in` }
      : { mode: 'amazon', checkoutJsUrl: CHECKOUT_JS_URLS[options.amazonPay.region] },
    confirmingRefreshSeconds: options.confirmingRefreshSeconds ?? 2,
    bindingTtlMs,
    rateLimitMax: options.rateLimitMax,
    trustProxy: options.trustProxy,
    metricsToken: options.metricsToken,
    redisUrl: options.redisUrl,
  };

  let draining = false;
  const app = await buildApp({
    settings,
    logger,
    store,
    completion,
    bindings,
    buttonConfig,
    readiness: () => (draining ? { ready: false, reason: 'draining' } : { ready: true }),
    draining: () => draining,
    metrics,
  });
  metrics.registerGauge({
    name: 'checkout_completions_in_flight',
    help: 'Completion drives running in this process (what a shutdown waits for).',
    collect() {
      this.set(completion.inflightCount);
    },
  });
  metrics.registerGauge({
    name: 'amazon_pay_circuit_state',
    help: 'Circuit breaker around Amazon Pay calls: 0 closed, 1 half-open (probing), 2 open (calls not made).',
    collect() {
      this.set(CIRCUIT_STATE_VALUE[circuit.state]);
    },
  });
  metrics.registerGauge({
    name: 'amazon_pay_bulkhead_calls',
    help: 'Amazon Pay calls in the bulkhead: running (capped) and queued (bounded; beyond it buyers get "busy").',
    labelNames: ['state'] as const,
    collect() {
      this.set({ state: 'running' }, bulkhead.active);
      this.set({ state: 'queued' }, bulkhead.queued);
    },
  });

  if (options.startReconciler ?? true) reconciler.start();

  let closed: Promise<void> | undefined;
  return {
    app,
    store,
    completion,
    reconciler,
    simulator,
    client,
    metrics,
    circuit,
    bulkhead,
    markDraining() {
      draining = true;
    },
    close() {
      closed ??= (async () => {
        draining = true;
        await reconciler.stop();
        // The listener stays open meanwhile: probes read 503 and the waiting returns get their answers.
        await completion.waitForInflight();
        await app.close();
        await ownClient?.close();
        await simulator?.close();
        await store.close();
      })();
      return closed;
    },
  };
}
