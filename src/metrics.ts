// The service's Prometheus registry and instruments, free of Fastify: one registry per service instance (tests
// build several in one process), fed by the client, completion and reconciler hooks and read on scrape.
import { Counter, Gauge, type GaugeConfiguration, Histogram, Registry } from '@prometheus-io/client';
import type { ClientEvent } from './amazon-pay/client.ts';
import type { CompletionObserver } from './checkout/completion.ts';
import type { StoreStats } from './store/store.ts';

/**
 * Reason codes that may become a label value. Amazon's codes come from a response body, so an unexpected one
 * must not open a new time series per value: anything else is `other`.
 */
export const REASON_LABELS: ReadonlySet<string> = new Set([
  // Canceled sessions (statusDetails.reasonCode).
  'BuyerCanceled',
  'Declined',
  'HardDeclined',
  'SoftDeclined',
  'PaymentMethodNotAllowed',
  'Expired',
  'AmazonCanceled',
  'AmazonRejected',
  'ProcessingFailure',
  'TransactionTimedOut',
  'Canceled',
  // API errors that decide a session as failed.
  'ResourceNotFound',
  'InvalidCheckoutSessionStatus',
  'CheckoutSessionCanceled',
  'InvalidRequestSignature',
  'InvalidAuthentication',
  'InvalidAccountStatus',
  'UnauthorizedAccess',
  'InvalidParameterValue',
  'InvalidRequest',
]);

export function reasonLabel(reasonCode: string | null | undefined): string {
  if (reasonCode === null || reasonCode === undefined) return 'none';
  return REASON_LABELS.has(reasonCode) ? reasonCode : 'other';
}

/** Seconds, from sub-10 ms local answers to a request that ran into the server's request timeout. */
export const HTTP_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Seconds per Amazon attempt; the per-attempt deadline defaults to 8 s. */
const AMAZON_DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16];

/** Store stats are read once per scrape even though two gauges need them. */
const STATS_REUSE_MS = 1_000;

export interface MetricsOptions {
  now?: () => number;
}

export class Metrics {
  readonly registry = new Registry();
  readonly amazonRequests: Counter<'operation' | 'outcome'>;
  readonly amazonRequestDuration: Histogram<'operation' | 'outcome'>;
  readonly amazonRetries: Counter<'operation'>;
  readonly completionOutcomes: Counter<'state' | 'reason' | 'source'>;
  readonly reconcilerRuns: Counter<'result'>;
  readonly reconcilerSettled: Counter;
  readonly storeStatsErrors: Counter;
  readonly #now: () => number;
  #storeStats: ((now: number) => Promise<StoreStats>) | undefined;
  #lastStats: { at: number; stats: Promise<StoreStats | undefined> } | undefined;

  constructor(options: MetricsOptions = {}) {
    this.#now = options.now ?? Date.now;
    const registers = [this.registry];
    this.amazonRequests = new Counter({
      name: 'amazon_pay_requests_total',
      help: 'HTTP attempts to the Amazon Pay API by operation and outcome.',
      labelNames: ['operation', 'outcome'] as const,
      registers,
    });
    this.amazonRequestDuration = new Histogram({
      name: 'amazon_pay_request_duration_seconds',
      help: 'Duration of one HTTP attempt to the Amazon Pay API, by operation and outcome.',
      labelNames: ['operation', 'outcome'] as const,
      buckets: AMAZON_DURATION_BUCKETS,
      registers,
    });
    this.amazonRetries = new Counter({
      name: 'amazon_pay_retries_total',
      help: 'Amazon Pay attempts that were followed by a retry (after backoff or Retry-After).',
      labelNames: ['operation'] as const,
      registers,
    });
    this.completionOutcomes = new Counter({
      name: 'checkout_completion_outcomes_total',
      help: 'Committed completion outcomes by state, Amazon reason code (bounded; unknown codes are "other") and source.',
      labelNames: ['state', 'reason', 'source'] as const,
      registers,
    });
    this.reconcilerRuns = new Counter({
      name: 'checkout_reconciler_runs_total',
      help: 'Reconciler passes by result.',
      labelNames: ['result'] as const,
      registers,
    });
    this.reconcilerSettled = new Counter({
      name: 'checkout_reconciler_settled_total',
      help: 'Records the reconciler brought to completed or failed.',
      registers,
    });
    // Zero series from the start, so rate() and alerts see the first increment instead of a new series.
    for (const result of ['ok', 'failed']) this.reconcilerRuns.inc({ result }, 0);
    for (const operation of ['complete', 'get']) this.amazonRetries.inc({ operation }, 0);
    const readStats = () => this.#readStats();
    this.storeStatsErrors = new Counter({
      name: 'checkout_store_stats_errors_total',
      help: 'Scrapes whose store statistics could not be read (the record gauges keep their last values).',
      registers,
      // Waits for this scrape's (shared) read, so a failure shows in the same scrape.
      async collect() {
        await readStats();
      },
    });
    new Gauge({
      name: 'checkout_records',
      help: 'Checkout records not decided yet, by state (pending: claimed or waiting; unknown: ambiguous).',
      labelNames: ['state'] as const,
      registers,
      async collect() {
        const stats = await readStats();
        if (!stats) return;
        this.set({ state: 'pending' }, stats.pending);
        this.set({ state: 'unknown' }, stats.unknown);
      },
    });
    new Gauge({
      name: 'checkout_oldest_open_record_age_seconds',
      help: 'Age of the oldest pending or unknown record, 0 when there is none.',
      registers,
      async collect() {
        const stats = await readStats();
        if (stats) this.set(stats.oldestOpenAgeMs / 1000);
      },
    });
  }

  /** The client's per-attempt hook (`AmazonPayClientOptions.onEvent`). */
  readonly clientEvent = (event: ClientEvent): void => {
    const labels = { operation: event.operation, outcome: event.outcome };
    this.amazonRequests.inc(labels);
    this.amazonRequestDuration.observe(labels, event.durationMs / 1000);
    if (event.willRetry) this.amazonRetries.inc({ operation: event.operation });
  };

  readonly completionObserver: CompletionObserver = {
    outcome: (state, reasonCode, source) => {
      this.completionOutcomes.inc({ state, reason: reasonLabel(reasonCode), source });
    },
  };

  /** The reconciler's `onRun` hook. */
  readonly reconcilerRun = (result: { settled: number; failed: boolean }): void => {
    this.reconcilerRuns.inc({ result: result.failed ? 'failed' : 'ok' });
    if (result.settled > 0) this.reconcilerSettled.inc(result.settled);
  };

  /** Records pending/unknown and the oldest one's age are read from the store at scrape time. */
  watchStore(stats: (now: number) => Promise<StoreStats>): void {
    this.#storeStats = stats;
  }

  /** Another module's gauge (circuit state, in-flight work) on this registry; `collect` runs on scrape. */
  registerGauge<T extends string>(config: Omit<GaugeConfiguration<T>, 'registers'>): Gauge<T> {
    return new Gauge<T>({ ...config, registers: [this.registry] });
  }

  /** Prometheus text exposition of everything on this registry. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  #readStats(): Promise<StoreStats | undefined> {
    const read = this.#storeStats;
    if (!read) return Promise.resolve(undefined);
    const now = this.#now();
    if (!this.#lastStats || now - this.#lastStats.at > STATS_REUSE_MS) {
      const stats = Promise.resolve()
        .then(() => read(now))
        .catch(() => {
          // A store that cannot answer must not fail the scrape: process and HTTP metrics still matter then.
          this.storeStatsErrors.inc();
          return undefined;
        });
      this.#lastStats = { at: now, stats };
    }
    return this.#lastStats.stats;
  }
}
