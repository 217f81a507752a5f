// The reconciler: a loop in every process that settles `unknown` records and `pending` ones whose worker died
// (lease expired), with the completion service's rules, and purges buyer details past their retention.
import type { CheckoutStore } from '../store/store.ts';
import { type CompletionLogger, type CompletionService, DAY_MS, safeError } from './completion.ts';

export interface ReconcilerOptions {
  store: CheckoutStore;
  completion: CompletionService;
  logger: CompletionLogger;
  intervalMs: number;
  /** Records leased per run; each is settled with at most a few Amazon calls. */
  batchSize?: number;
  leaseMs?: number;
  piiRetentionDays: number;
  now?: () => number;
  /**
   * While true (the Amazon Pay circuit is open) no records are leased: each would only bounce off the breaker and
   * push its next look further out. Purging goes on. Once the circuit half-opens, this run's first call is the probe.
   */
  paused?: () => boolean;
  onRun?: (result: { settled: number; failed: boolean; paused?: boolean }) => void;
}

export class Reconciler {
  readonly #options: ReconcilerOptions;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> | undefined;
  #stopped = true;
  /** Set by stop(): a run in progress finishes its current record and leaves the rest. */
  #stopping = false;

  constructor(options: ReconcilerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#stopping = false;
    this.#schedule(Math.min(1_000, this.#options.intervalMs));
  }

  /** Stops scheduling and waits for a run in progress to commit. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stopping = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** One pass; also called directly by tests and at startup. Returns how many records it settled. */
  runOnce(): Promise<number> {
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  #schedule(delay: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      void this.runOnce().finally(() => this.#schedule(this.#options.intervalMs));
    }, delay);
    this.#timer.unref();
  }

  async #run(): Promise<number> {
    const { store, completion, logger } = this.#options;
    let settled = 0;
    try {
      const now = this.#now();
      const paused = this.#options.paused?.() ?? false;
      const due = paused
        ? []
        : await store.claimDue({
            owner: completion.owner,
            leaseMs: this.#options.leaseMs ?? completion.leaseMs,
            now,
            limit: this.#options.batchSize ?? 20,
          });
      // Sequential on purpose: the reconciler is background work and must not crowd out buyers' requests.
      for (const record of due) {
        if (this.#stopping) break;
        const result = await completion.settle(record);
        if (result && (result.state === 'completed' || result.state === 'failed')) settled += 1;
      }
      await store.purgeBuyerDetails(now - this.#options.piiRetentionDays * DAY_MS, now);
      await store.deleteExpiredBindings(now - DAY_MS);
      this.#options.onRun?.({ settled, failed: false, ...(paused ? { paused } : {}) });
      if (due.length > 0) logger.info({ leased: due.length, settled }, 'reconciler run');
      else if (paused) logger.info({}, 'reconciler run skipped: Amazon Pay circuit open');
    } catch (err) {
      this.#options.onRun?.({ settled, failed: true });
      logger.error({ err: safeError(err) }, 'reconciler run failed');
    }
    return settled;
  }
}
