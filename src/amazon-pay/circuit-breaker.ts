// Circuit breaker and bulkhead around Amazon Pay calls: a dead upstream is not waited on, and a burst of buyers cannot pile up unbounded calls.

import { AmazonPayApiError, AmazonPayTimeoutError, AmazonPayTransportError } from './errors.ts';
import type { CheckoutSession } from './schemas.ts';
import type { AmazonPayApi, AmazonPayResponse, CallOptions, CompleteOptions } from './types.ts';

export type CircuitState = 'closed' | 'open' | 'half-open';

/** Numeric encoding of the state for a gauge (0 closed, 1 half-open, 2 open). */
export const CIRCUIT_STATE_VALUE: Record<CircuitState, number> = { closed: 0, 'half-open': 1, open: 2 };

export interface CircuitBreakerOptions {
  /** Consecutive failures (transport, timeout, 408, 5xx) that open the circuit. */
  failureThreshold?: number;
  /** The failures must fall within this window; an older streak starts over. */
  windowMs?: number;
  /** How long the circuit stays open before a probe may go through. Doubles after each failed probe. */
  openMs?: number;
  /** Cap of the doubled open time. */
  maxOpenMs?: number;
  /** Calls let through at once while half-open. */
  halfOpenProbes?: number;
  now?: () => number;
  onStateChange?: (state: CircuitState, previous: CircuitState) => void;
}

export const CIRCUIT_DEFAULTS = {
  failureThreshold: 5,
  windowMs: 30_000,
  openMs: 10_000,
  maxOpenMs: 60_000,
  halfOpenProbes: 1,
} as const;

export type CallVerdict = 'success' | 'failure' | 'ignore';

/** A permit to make one call; hand it back with the call's verdict. */
export interface CircuitPermit {
  readonly probe: boolean;
}

/**
 * Classic three-state breaker with an injected clock. Only failures that say "Amazon is not answering"
 * count; an error body from Amazon (4xx, even 429) proves it is alive and resets the streak.
 */
export class CircuitBreaker {
  readonly #threshold: number;
  readonly #windowMs: number;
  readonly #baseOpenMs: number;
  readonly #maxOpenMs: number;
  readonly #probes: number;
  readonly #now: () => number;
  readonly #listeners = new Set<(state: CircuitState, previous: CircuitState) => void>();
  #state: CircuitState = 'closed';
  #streak = 0;
  #streakStartedAt = 0;
  #openMs: number;
  #openUntil = 0;
  #probesInFlight = 0;

  constructor(options: CircuitBreakerOptions = {}) {
    this.#threshold = Math.max(1, options.failureThreshold ?? CIRCUIT_DEFAULTS.failureThreshold);
    this.#windowMs = options.windowMs ?? CIRCUIT_DEFAULTS.windowMs;
    this.#baseOpenMs = options.openMs ?? CIRCUIT_DEFAULTS.openMs;
    this.#maxOpenMs = Math.max(this.#baseOpenMs, options.maxOpenMs ?? CIRCUIT_DEFAULTS.maxOpenMs);
    this.#probes = Math.max(1, options.halfOpenProbes ?? CIRCUIT_DEFAULTS.halfOpenProbes);
    this.#now = options.now ?? Date.now;
    this.#openMs = this.#baseOpenMs;
    if (options.onStateChange) this.#listeners.add(options.onStateChange);
  }

  /** The current state; an open circuit whose time is up reads (and becomes) half-open. */
  get state(): CircuitState {
    if (this.#state === 'open' && this.#now() >= this.#openUntil) this.#transition('half-open');
    return this.#state;
  }

  /** Milliseconds until a probe may go through (0 unless open). */
  get retryInMs(): number {
    return this.state === 'open' ? Math.max(0, this.#openUntil - this.#now()) : 0;
  }

  /** Subscribes to transitions (for a gauge or a log line); returns the unsubscribe function. */
  onStateChange(listener: (state: CircuitState, previous: CircuitState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** A permit for one call, or undefined when the call must not be made (open, or half-open with a probe out). */
  tryAcquire(): CircuitPermit | undefined {
    const state = this.state;
    if (state === 'closed') return { probe: false };
    if (state === 'open' || this.#probesInFlight >= this.#probes) return undefined;
    this.#probesInFlight += 1;
    return { probe: true };
  }

  /** Whether a call would be let through now, without taking a probe slot. */
  get allowsCalls(): boolean {
    const state = this.state;
    return state === 'closed' || (state === 'half-open' && this.#probesInFlight < this.#probes);
  }

  release(permit: CircuitPermit, verdict: CallVerdict): void {
    if (permit.probe) this.#probesInFlight = Math.max(0, this.#probesInFlight - 1);
    if (verdict === 'ignore') return;
    if (verdict === 'success') {
      this.#streak = 0;
      // A late success from a call started before the circuit opened says little about now; only probes close it.
      if (permit.probe && this.#state === 'half-open') {
        this.#openMs = this.#baseOpenMs;
        this.#transition('closed');
      }
      return;
    }
    const now = this.#now();
    if (permit.probe && this.#state === 'half-open') {
      this.#openMs = Math.min(this.#maxOpenMs, this.#openMs * 2);
      this.#open(now);
      return;
    }
    if (this.#state !== 'closed') return;
    if (this.#streak === 0 || now - this.#streakStartedAt > this.#windowMs) {
      this.#streak = 1;
      this.#streakStartedAt = now;
    } else {
      this.#streak += 1;
    }
    if (this.#streak >= this.#threshold) this.#open(now);
  }

  #open(now: number): void {
    this.#streak = 0;
    this.#openUntil = now + this.#openMs;
    this.#transition('open');
  }

  #transition(next: CircuitState): void {
    const previous = this.#state;
    if (previous === next) return;
    this.#state = next;
    for (const listener of this.#listeners) {
      try {
        listener(next, previous);
      } catch {
        // Observability must never change how calls are gated.
      }
    }
  }
}

/** How an Amazon Pay call's result counts for the breaker. */
export function verdictOf(err: unknown): CallVerdict {
  if (err === undefined) return 'success';
  if (err instanceof CircuitOpenError || err instanceof BulkheadRejectedError) return 'ignore';
  if (err instanceof AmazonPayTimeoutError) return 'failure';
  if (err instanceof AmazonPayTransportError) {
    // Our own abort (drain, drive deadline) or a dispatcher that refuses the request says nothing about Amazon.
    return err.code !== undefined && LOCAL_CODES.has(err.code) ? 'ignore' : 'failure';
  }
  if (err instanceof AmazonPayApiError)
    return err.status >= 500 || err.status === 408 ? 'failure' : 'success';
  // A 2xx with a body we could not read: Amazon answered.
  return 'success';
}

const LOCAL_CODES = new Set([
  'ABORT_ERR',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
  'UND_ERR_INVALID_ARG',
  'UND_ERR_NOT_SUPPORTED',
]);

/** The call was not made: the circuit is open. Nothing was sent, so nothing is ambiguous. */
export class CircuitOpenError extends AmazonPayTransportError {
  readonly retryInMs: number;
  constructor(retryInMs: number) {
    super('Amazon Pay circuit is open; the call was not made', { requestSent: false, code: 'CIRCUIT_OPEN' });
    this.name = 'CircuitOpenError';
    this.retryInMs = retryInMs;
    this.attempts = 0;
  }
}

/** The call was not made: too many calls in flight and the queue is full (or the wait ran out). */
export class BulkheadRejectedError extends AmazonPayTransportError {
  readonly reason: 'queue-full' | 'queue-timeout' | 'aborted';
  constructor(reason: 'queue-full' | 'queue-timeout' | 'aborted') {
    super(`Amazon Pay call not made: ${reason}`, { requestSent: false, code: 'BULKHEAD_FULL' });
    this.name = 'BulkheadRejectedError';
    this.reason = reason;
    this.attempts = 0;
  }
}

export interface BulkheadOptions {
  /** Calls in flight at once. */
  maxConcurrent?: number;
  /** Calls waiting for a slot; beyond this a call is refused at once. */
  maxQueue?: number;
  /** Longest wait for a slot; a call that waited this long is refused (it would eat its caller's lease). */
  maxQueueWaitMs?: number;
}

/**
 * As many calls in flight as the client's connection pool holds (Little's law: 1,024 calls at 200 ms carry
 * ~5,000 completions/s, far beyond one process's CPU), and as many again queued; beyond that, "busy".
 */
export const BULKHEAD_DEFAULTS = { maxConcurrent: 1024, maxQueue: 1024, maxQueueWaitMs: 20_000 } as const;

interface Waiter {
  grant: () => void;
  reject: (err: BulkheadRejectedError) => void;
}

/** A counting semaphore with a bounded FIFO queue. */
export class Bulkhead {
  readonly maxConcurrent: number;
  readonly maxQueue: number;
  readonly #maxQueueWaitMs: number;
  readonly #queue: Waiter[] = [];
  #active = 0;

  constructor(options: BulkheadOptions = {}) {
    this.maxConcurrent = Math.max(1, options.maxConcurrent ?? BULKHEAD_DEFAULTS.maxConcurrent);
    this.maxQueue = Math.max(0, options.maxQueue ?? BULKHEAD_DEFAULTS.maxQueue);
    this.#maxQueueWaitMs = options.maxQueueWaitMs ?? BULKHEAD_DEFAULTS.maxQueueWaitMs;
  }

  get active(): number {
    return this.#active;
  }

  get queued(): number {
    return this.#queue.length;
  }

  /** Every slot taken and the queue full: a new call would be refused. */
  get saturated(): boolean {
    return this.#active >= this.maxConcurrent && this.#queue.length >= this.maxQueue;
  }

  /** Resolves with a release function once a slot is free; rejects when the queue is full or the wait ends. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.#active < this.maxConcurrent) {
      this.#active += 1;
      return Promise.resolve(this.#releaser());
    }
    if (this.#queue.length >= this.maxQueue) return Promise.reject(new BulkheadRejectedError('queue-full'));
    if (signal?.aborted) return Promise.reject(new BulkheadRejectedError('aborted'));
    return new Promise((resolve, reject) => {
      const leave = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const index = this.#queue.indexOf(waiter);
        if (index >= 0) this.#queue.splice(index, 1);
      };
      const waiter: Waiter = {
        grant: () => {
          leave();
          resolve(this.#releaser());
        },
        reject: (err) => {
          leave();
          reject(err);
        },
      };
      const onAbort = () => waiter.reject(new BulkheadRejectedError('aborted'));
      const timer = setTimeout(
        () => waiter.reject(new BulkheadRejectedError('queue-timeout')),
        this.#maxQueueWaitMs,
      );
      timer.unref();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(waiter);
    });
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // The slot passes straight to the oldest waiter, so the count never dips and nobody jumps the queue.
      const next = this.#queue[0];
      if (next) next.grant();
      else this.#active -= 1;
    };
  }
}

export interface GuardedAmazonPayOptions {
  breaker: CircuitBreaker;
  bulkhead: Bulkhead;
}

/**
 * The Amazon Pay client behind the breaker and the bulkhead: the same interface, so the completion service does
 * not change. A refused call throws before anything is sent (CircuitOpenError, BulkheadRejectedError).
 */
export class GuardedAmazonPay implements AmazonPayApi {
  readonly breaker: CircuitBreaker;
  readonly bulkhead: Bulkhead;
  readonly #inner: AmazonPayApi;

  constructor(inner: AmazonPayApi, options: GuardedAmazonPayOptions) {
    this.#inner = inner;
    this.breaker = options.breaker;
    this.bulkhead = options.bulkhead;
  }

  get algorithm(): string {
    return this.#inner.algorithm;
  }

  get publicKeyId(): string {
    return this.#inner.publicKeyId;
  }

  /** Whether a new completion should be turned away before it claims anything. */
  get overloaded(): boolean {
    return this.bulkhead.saturated;
  }

  completeCheckoutSession(
    checkoutSessionId: string,
    body: Record<string, unknown>,
    options: CompleteOptions,
  ): Promise<AmazonPayResponse<CheckoutSession>> {
    return this.#guard(options, () => this.#inner.completeCheckoutSession(checkoutSessionId, body, options));
  }

  getCheckoutSession(
    checkoutSessionId: string,
    options?: CallOptions,
  ): Promise<AmazonPayResponse<CheckoutSession>> {
    return this.#guard(options, () => this.#inner.getCheckoutSession(checkoutSessionId, options));
  }

  /** Local signing: no Amazon call, so neither the breaker nor the bulkhead applies. */
  signButtonPayload(payloadJson: string): Promise<string> {
    return this.#inner.signButtonPayload(payloadJson);
  }

  async #guard<T>(options: CallOptions | undefined, call: () => Promise<T>): Promise<T> {
    // Checked before queueing too, so an open circuit answers at once instead of after a wait for a slot.
    if (!this.breaker.allowsCalls) throw new CircuitOpenError(this.breaker.retryInMs);
    const release = await this.bulkhead.acquire(options?.signal);
    try {
      // The circuit may have opened while this call waited for its slot.
      const permit = this.breaker.tryAcquire();
      if (!permit) throw new CircuitOpenError(this.breaker.retryInMs);
      try {
        const result = await call();
        this.breaker.release(permit, 'success');
        return result;
      } catch (err) {
        this.breaker.release(permit, verdictOf(err));
        throw err;
      }
    } finally {
      release();
    }
  }
}
