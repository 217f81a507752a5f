// The completion service: completes each checkout session exactly once, resolves ambiguous results by reading
// Amazon's state back, and commits the outcome before anyone is answered. Free of Fastify and HTTP.
import { createHash, randomBytes } from 'node:crypto';
import { BulkheadRejectedError, CircuitOpenError } from '../amazon-pay/circuit-breaker.ts';
import {
  AmazonPayApiError,
  type AmazonPayError,
  AmazonPayError as AmazonPayErrorBase,
} from '../amazon-pay/errors.ts';
import type { CheckoutSession } from '../amazon-pay/schemas.ts';
import type { AmazonPayApi, AmazonPayResponse } from '../amazon-pay/types.ts';
import type { BuyerDetails, CheckoutRecord, CheckoutStore, Outcome, PostalAddress } from '../store/store.ts';
import { type MessageCode, messageCodeForReason } from './messages.ts';

/**
 * Amazon's checkout session ids are UUIDs (`bd504926-f659-4ad7-a1a9-9a747aaf5275`). Anything else never
 * reaches Amazon: it would land in a URL path and in our logs.
 */
export const CHECKOUT_SESSION_ID_PATTERN =
  /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export function isValidCheckoutSessionId(value: unknown): value is string {
  return typeof value === 'string' && CHECKOUT_SESSION_ID_PATTERN.test(value);
}

/**
 * The idempotency key is a pure function of the session id, so every attempt, every process and every
 * restart sends the same key, and Amazon replays the first answer instead of acting twice.
 */
export function idempotencyKeyFor(checkoutSessionId: string): string {
  return createHash('sha256')
    .update(`amazon-pay-complete:${checkoutSessionId}`)
    .digest('base64url')
    .slice(0, 32);
}

/** Short, non-reversible label for logs and metrics correlation; never the raw id. */
export function hashSessionId(checkoutSessionId: string): string {
  return createHash('sha256').update(checkoutSessionId).digest('hex').slice(0, 16);
}

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
/** Amazon cancels an Open session 24 h after creation and deletes sessions after 30 days. */
export const AMAZON_OPEN_WINDOW_MS = DAY_MS;
export const AMAZON_RETENTION_MS = 30 * DAY_MS;

export type CompletionView =
  | { kind: 'completed'; record: CheckoutRecord }
  | { kind: 'failed'; record: CheckoutRecord; messageCode: MessageCode }
  /** Not decided yet (`pending` or `unknown`): the buyer sees "confirming" and the reconciler finishes it. */
  | { kind: 'pending'; record: CheckoutRecord }
  /** Too many Amazon calls waiting: nothing was claimed (or the claim was released); try again shortly. */
  | { kind: 'busy'; retryAfterSeconds: number }
  | { kind: 'binding-mismatch' }
  | { kind: 'binding-unknown' }
  | { kind: 'not-found' };

export interface CompletionLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Observability hooks (metrics live elsewhere); labels are codes, never ids or buyer data. */
export interface CompletionObserver {
  outcome(
    state: 'completed' | 'failed' | 'unknown',
    reasonCode: string | null,
    source: 'request' | 'reconciler',
  ): void;
}

export interface CompletionServiceOptions {
  store: CheckoutStore;
  client: AmazonPayApi;
  logger: CompletionLogger;
  observer?: CompletionObserver;
  now?: () => number;
  /** Identifies this process in leases (`<instance>:<random>` by default). */
  instanceId?: string;
  /** How long a claim protects a record from other workers; must exceed the client's total budget. */
  leaseMs?: number;
  /** How long the buyer's request waits for the outcome before it is shown "confirming". */
  returnWaitMs?: number;
  /** First delay before the reconciler looks at an `unknown` record again; doubles per attempt. */
  retryBaseMs?: number;
  retryCapMs?: number;
  random?: () => number;
  /** Test builds only: called at named points so crash tests can kill the process there. */
  failpoint?: (name: 'after-claim' | 'after-amazon' | 'after-commit') => void;
  /**
   * True while Amazon calls are backed up beyond the bulkhead's queue: new completions are then turned away
   * before they claim anything, so nothing waits on a slot it may never get.
   */
  overloaded?: () => boolean;
  /** Retry-After of a busy answer. */
  busyRetryAfterSeconds?: number;
}

/** What a drive ends with: the stored record, and whether the buyer should be told to come back (bulkhead full). */
interface DriveResult {
  record: CheckoutRecord | undefined;
  busy: boolean;
}

/** A drive with less time than this left on its lease does not start an Amazon call (it could not finish it). */
const MIN_DRIVE_MS = 250;

type Source = 'request' | 'reconciler';

export class CompletionService {
  readonly #store: CheckoutStore;
  readonly #client: AmazonPayApi;
  readonly #log: CompletionLogger;
  readonly #observer: CompletionObserver | undefined;
  readonly #now: () => number;
  readonly #owner: string;
  readonly #leaseMs: number;
  readonly #returnWaitMs: number;
  readonly #retryBaseMs: number;
  readonly #retryCapMs: number;
  readonly #random: () => number;
  readonly #failpoint: CompletionServiceOptions['failpoint'];
  readonly #overloaded: () => boolean;
  readonly #busyRetryAfterSeconds: number;
  /** One drive per session id in this process: concurrent returns, refreshes and tabs share it. */
  readonly #inflight = new Map<string, Promise<DriveResult>>();
  readonly #drain = new AbortController();
  /** The last Amazon request id seen by the drive of each session, for its one "committed" log line. */
  readonly #amazonRequestIds = new Map<string, string>();

  constructor(options: CompletionServiceOptions) {
    this.#store = options.store;
    this.#client = options.client;
    this.#log = options.logger;
    this.#observer = options.observer;
    this.#now = options.now ?? Date.now;
    this.#owner = options.instanceId ?? `${process.pid}:${randomBytes(6).toString('hex')}`;
    this.#leaseMs = options.leaseMs ?? 60_000;
    this.#returnWaitMs = options.returnWaitMs ?? 10_000;
    this.#retryBaseMs = options.retryBaseMs ?? 15_000;
    this.#retryCapMs = options.retryCapMs ?? 15 * 60_000;
    this.#random = options.random ?? Math.random;
    this.#failpoint = options.failpoint;
    this.#overloaded = options.overloaded ?? (() => false);
    this.#busyRetryAfterSeconds = options.busyRetryAfterSeconds ?? 5;
  }

  get leaseMs(): number {
    return this.#leaseMs;
  }

  get owner(): string {
    return this.#owner;
  }

  /** Number of drives in flight in this process (for graceful shutdown and metrics). */
  get inflightCount(): number {
    return this.#inflight.size;
  }

  /** Resolves when every drive in flight has committed its outcome (or given up). */
  async waitForInflight(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight.values()]);
  }

  /**
   * The return route and the JSON complete route. Claims the record for this binding, drives it to an
   * outcome (or joins the drive already running here), and answers within `returnWaitMs`; a drive that takes
   * longer goes on in the background and commits its outcome, and the buyer sees "confirming" meanwhile.
   */
  async complete(checkoutSessionId: string, bindingId: string): Promise<CompletionView> {
    const running = this.#inflight.get(checkoutSessionId);
    if (running) {
      // Joining a drive skips the claim, so check the binding against the stored record first.
      const record = await this.#store.get(checkoutSessionId);
      if (record && record.bindingId !== bindingId) return { kind: 'binding-mismatch' };
      return this.#await(checkoutSessionId, running);
    }
    if (this.#overloaded()) return this.#whileOverloaded(checkoutSessionId, bindingId);
    const claim = await this.#store.claim({
      checkoutSessionId,
      bindingId,
      owner: this.#owner,
      leaseMs: this.#leaseMs,
      now: this.#now(),
    });
    switch (claim.kind) {
      case 'binding-unknown':
      case 'binding-mismatch':
        return { kind: claim.kind };
      case 'decided':
      case 'busy':
        return this.#view(claim.record);
      case 'claimed': {
        // A drive may have started between our check and the claim (a lease-expired record taken over).
        const joined = this.#inflight.get(checkoutSessionId);
        if (joined) return this.#await(checkoutSessionId, joined);
        const drive = this.#startDrive(claim.record, 'request');
        return this.#await(checkoutSessionId, drive);
      }
    }
  }

  /** The stored outcome for the bound browser (result page, JSON status); never calls Amazon. */
  async status(checkoutSessionId: string, bindingId: string): Promise<CompletionView> {
    const record = await this.#store.get(checkoutSessionId);
    // A foreign binding learns nothing, not even that the session exists.
    if (!record || record.bindingId !== bindingId) return { kind: 'not-found' };
    return this.#view(record);
  }

  /**
   * The reconciler's entry: settles a record it leased through `claimDue`, with the same rules as the
   * request path. Shares the in-process drive when the request path is already on it.
   */
  async settle(record: CheckoutRecord): Promise<CheckoutRecord | undefined> {
    const drive = this.#inflight.get(record.checkoutSessionId) ?? this.#startDrive(record, 'reconciler');
    return (await drive).record;
  }

  /**
   * Overload: what needs no Amazon call is still answered (a decided record, a drive running elsewhere);
   * anything that would claim and call Amazon is turned away with nothing written.
   */
  async #whileOverloaded(checkoutSessionId: string, bindingId: string): Promise<CompletionView> {
    const record = await this.#store.get(checkoutSessionId);
    if (record && record.bindingId !== bindingId) return { kind: 'binding-mismatch' };
    if (record && (record.state === 'completed' || record.state === 'failed')) return this.#view(record);
    if (record?.leaseExpiresAt != null && record.leaseExpiresAt > this.#now()) return this.#view(record);
    return { kind: 'busy', retryAfterSeconds: this.#busyRetryAfterSeconds };
  }

  /** Stops retry loops at shutdown; drives still commit what they know (as `unknown` when undecided). */
  abortDrives(): void {
    this.#drain.abort();
  }

  #startDrive(record: CheckoutRecord, source: Source): Promise<DriveResult> {
    const id = record.checkoutSessionId;
    const drive = this.#drive(record, source)
      .catch((err: unknown): DriveResult => {
        // Store failures land here; the lease expires and the reconciler retries.
        this.#log.error({ err: safeError(err), session: hashSessionId(id) }, 'completion drive failed');
        return { record: undefined, busy: false };
      })
      .finally(() => {
        this.#inflight.delete(id);
        this.#amazonRequestIds.delete(id);
      });
    this.#inflight.set(id, drive);
    return drive;
  }

  async #await(checkoutSessionId: string, drive: Promise<DriveResult>): Promise<CompletionView> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.#returnWaitMs);
      timer.unref();
    });
    try {
      const result = await Promise.race([drive, timeout]);
      if (result !== 'timeout' && result.busy)
        return { kind: 'busy', retryAfterSeconds: this.#busyRetryAfterSeconds };
      const record =
        result === 'timeout' || result.record === undefined
          ? await this.#store.get(checkoutSessionId)
          : result.record;
      if (!record) return { kind: 'not-found' };
      return this.#view(record);
    } finally {
      clearTimeout(timer);
    }
  }

  #view(record: CheckoutRecord): CompletionView {
    if (record.state === 'completed') return { kind: 'completed', record };
    if (record.state === 'failed') {
      return {
        kind: 'failed',
        record,
        messageCode: (record.messageCode as MessageCode | null) ?? messageCodeForReason(record.reasonCode),
      };
    }
    return { kind: 'pending', record };
  }

  async #drive(record: CheckoutRecord, source: Source): Promise<DriveResult> {
    const id = record.checkoutSessionId;
    const session = hashSessionId(id);
    this.#failpoint?.('after-claim');
    // The drive must end (and commit) before its lease does, or another worker could take the record over while
    // our Complete is still in flight. The margin leaves room for the commit itself.
    const leaseEnd = record.leaseExpiresAt ?? this.#now() + this.#leaseMs;
    const margin = Math.min(5_000, Math.floor(this.#leaseMs / 5));
    const available = leaseEnd - margin - this.#now();
    if (available < MIN_DRIVE_MS) {
      // A reconciler batch ran long: leave this record to the next pick-up once the lease expires.
      this.#log.warn(
        { session, source },
        'lease nearly expired before the drive started; leaving it for later',
      );
      return { record: await this.#store.get(id), busy: false };
    }
    const signal = AbortSignal.any([this.#drain.signal, AbortSignal.timeout(Math.floor(available))]);
    const { outcome, busy } = await this.#resolve(record, source, signal);
    this.#failpoint?.('after-amazon');
    const stored = await this.#store.finish({
      checkoutSessionId: id,
      owner: this.#owner,
      outcome,
      now: this.#now(),
    });
    this.#failpoint?.('after-commit');
    if (!stored) {
      // Our lease expired and another worker took over; its outcome is the one that counts.
      this.#log.warn({ session, source }, 'lease lost before commit; keeping the other worker outcome');
      return { record: await this.#store.get(id), busy: false };
    }
    this.#observer?.outcome(outcome.state, outcome.reasonCode, source);
    const amazonRequestId = this.#amazonRequestIds.get(id);
    this.#amazonRequestIds.delete(id);
    // One info line per completion: on a busy server, logging is a measurable share of the CPU per return.
    this.#log.info(
      {
        session,
        source,
        state: outcome.state,
        reasonCode: outcome.reasonCode,
        attempts: stored.attempts,
        amazonRequestId,
      },
      'checkout session outcome committed',
    );
    return { record: stored, busy };
  }

  /**
   * Decides the outcome. The request path completes first; the reconciler (and anything that follows an
   * ambiguous answer) reads Amazon's state first, so a session Amazon already completed is never completed
   * again, and Complete is only repeated, with the same key, while Amazon still says `Open`.
   */
  async #resolve(
    record: CheckoutRecord,
    source: Source,
    signal: AbortSignal,
  ): Promise<{ outcome: Outcome; busy: boolean }> {
    const id = record.checkoutSessionId;
    const now = this.#now();
    const age = now - record.createdAt;
    const decided = (outcome: Outcome) => ({ outcome, busy: false });
    const undecided = (step: Undecided) => ({
      outcome: this.#unknown(record, step.reason, step.notBeforeMs),
      busy: false,
    });
    if (age > AMAZON_RETENTION_MS) {
      // Amazon has deleted the session: nothing can be learned or completed any more.
      this.#log.error({ session: hashSessionId(id) }, 'gave up on a checkout session older than 30 days');
      return decided(failedOutcome('Expired'));
    }
    if (source === 'request' && record.attempts <= 1) {
      const first = await this.#tryComplete(id, signal);
      if (first.kind === 'decided') return decided(first.outcome);
      if (first.kind === 'undecided' && first.refused) {
        // The bulkhead turned the very first call away: nothing reached Amazon, so the claim is released as due
        // at once (the buyer's next try or the reconciler picks it up) and the buyer is asked to come back.
        return {
          outcome: { ...this.#unknown(record, first.reason), nextAttemptAt: this.#now() },
          busy: true,
        };
      }
      if (first.kind === 'undecided') return undecided(first);
    }
    // Ambiguous answer, a takeover after a crash, or the reconciler: read back, then act on what Amazon says.
    for (let round = 0; round < 2; round += 1) {
      const read = await this.#tryGet(id, signal);
      if (read.kind === 'decided') return decided(read.outcome);
      if (read.kind === 'undecided') return undecided(read);
      // Amazon says Open: Complete again with the same key, unless the 24 h window has passed.
      if (age > AMAZON_OPEN_WINDOW_MS + HOUR_MS) return decided(failedOutcome('Expired'));
      const again = await this.#tryComplete(id, signal);
      if (again.kind === 'decided') return decided(again.outcome);
      if (again.kind === 'undecided') return undecided(again);
    }
    return undecided({ kind: 'undecided', reason: 'still-open' });
  }

  async #tryComplete(id: string, signal: AbortSignal): Promise<Step> {
    try {
      const response = await this.#client.completeCheckoutSession(
        id,
        {},
        { idempotencyKey: idempotencyKeyFor(id), signal },
      );
      this.#logAmazon('complete', id, response);
      return this.#fromSession(response.data, response.status);
    } catch (err) {
      return this.#fromError('complete', id, err);
    }
  }

  async #tryGet(id: string, signal: AbortSignal): Promise<Step | { kind: 'open' }> {
    try {
      const response = await this.#client.getCheckoutSession(id, { signal });
      this.#logAmazon('get', id, response);
      const step = this.#fromSession(response.data, response.status);
      if (step.kind !== 'ambiguous') return step;
      // Only a clear Open justifies another Complete; any other state we do not know is "not yet".
      return response.data.statusDetails.state === 'Open'
        ? { kind: 'open' }
        : { kind: 'undecided', reason: step.reason };
    } catch (err) {
      const step = this.#fromError('get', id, err);
      // A failed read settles nothing: Get has no side effects, so any non-decision is simply "not yet".
      return step.kind === 'ambiguous' ? { kind: 'undecided', reason: step.reason } : step;
    }
  }

  #fromSession(session: CheckoutSession, status: number): Step {
    const { state, reasonCode } = session.statusDetails;
    if (state === 'Completed' && status !== 202)
      return { kind: 'decided', outcome: completedOutcome(session) };
    if (state === 'Canceled')
      return { kind: 'decided', outcome: failedOutcome(reasonCode ?? 'Canceled', session) };
    return { kind: 'ambiguous', reason: status === 202 ? 'pending-authorization' : `state-${state}` };
  }

  #fromError(operation: 'complete' | 'get', id: string, err: unknown): Step {
    // Refused before sending: nothing can have happened at Amazon, and there is nothing worth a warning per buyer.
    if (err instanceof CircuitOpenError) {
      this.#log.info({ session: hashSessionId(id), operation }, 'Amazon Pay circuit open; call not made');
      return { kind: 'undecided', reason: 'circuit-open', notBeforeMs: err.retryInMs };
    }
    if (err instanceof BulkheadRejectedError) {
      this.#log.warn(
        { session: hashSessionId(id), operation, why: err.reason },
        'Amazon Pay call refused: overload',
      );
      return { kind: 'undecided', reason: 'overloaded', refused: err.reason !== 'aborted' };
    }
    if (!(err instanceof AmazonPayErrorBase)) {
      this.#log.error(
        { err: safeError(err), session: hashSessionId(id), operation },
        'unexpected client failure',
      );
      return { kind: 'undecided', reason: 'internal-error' };
    }
    const amazonError: AmazonPayError = err;
    const fields = {
      session: hashSessionId(id),
      operation,
      errorKind: amazonError.kind,
      attempts: amazonError.attempts,
      amazonRequestId: amazonError.requestId,
      ...(amazonError instanceof AmazonPayApiError
        ? {
            status: amazonError.status,
            reasonCode: amazonError.reasonCode,
            amazonMessage: amazonError.amazonMessage,
          }
        : { message: amazonError.message }),
    };
    if (amazonError instanceof AmazonPayApiError) {
      if (amazonError.reasonCode === 'ResourceNotFound') {
        this.#log.warn(fields, 'Amazon Pay does not know this checkout session');
        return { kind: 'decided', outcome: failedOutcome('ResourceNotFound') };
      }
      if (operation === 'complete' && amazonError.reasonCode === 'CheckoutSessionCanceled') {
        // Canceled for sure; the reason (BuyerCanceled, Declined…) is read back with Get.
        this.#log.info(fields, 'Amazon Pay canceled the checkout session');
        return { kind: 'ambiguous', reason: 'canceled' };
      }
      if (amazonError.ambiguous) {
        this.#log.warn(fields, 'ambiguous Amazon Pay answer; reading the session back');
        return { kind: 'ambiguous', reason: amazonError.reasonCode };
      }
      if (amazonError.retryable) {
        this.#log.warn(fields, 'Amazon Pay kept throttling; the reconciler will retry');
        return { kind: 'undecided', reason: amazonError.reasonCode };
      }
      // Signature, parameter or account errors: our side is misconfigured; the buyer can only start again.
      this.#log.error(fields, 'Amazon Pay rejected the request');
      return { kind: 'decided', outcome: failedOutcome(amazonError.reasonCode) };
    }
    if (amazonError.ambiguous) {
      this.#log.warn(fields, 'Amazon Pay call ended without a clear answer; reading the session back');
      return { kind: 'ambiguous', reason: amazonError.kind };
    }
    this.#log.warn(fields, 'Amazon Pay unreachable; the reconciler will retry');
    return { kind: 'undecided', reason: amazonError.kind };
  }

  #unknown(record: CheckoutRecord, reason: string, notBeforeMs = 0): Outcome {
    const exponent = Math.min(record.attempts, 16);
    const delay = Math.min(this.#retryCapMs, this.#retryBaseMs * 2 ** Math.max(0, exponent - 1));
    // Jitter spreads the retries of many records that failed together; never sooner than the circuit lets calls
    // through again, since an earlier look would only bounce off it.
    const wait = Math.max(notBeforeMs, Math.round(delay / 2 + (this.#random() * delay) / 2));
    const nextAttemptAt = this.#now() + wait;
    this.#log.warn(
      { session: hashSessionId(record.checkoutSessionId), reason, nextAttemptAt },
      'outcome unknown',
    );
    return {
      state: 'unknown',
      reasonCode: null,
      messageCode: null,
      buyer: null,
      chargePermissionId: null,
      amazonCreatedAt: null,
      amazonUpdatedAt: null,
      nextAttemptAt,
    };
  }

  #logAmazon(operation: 'complete' | 'get', id: string, response: AmazonPayResponse<CheckoutSession>): void {
    if (response.requestId) this.#amazonRequestIds.set(id, response.requestId);
    // A clean first-attempt answer is summed up by the "committed" line; anything unusual stays at info.
    const level = response.attempts === 1 && response.status === 200 ? 'debug' : 'info';
    this.#log[level](
      {
        session: hashSessionId(id),
        operation,
        status: response.status,
        attempts: response.attempts,
        amazonRequestId: response.requestId,
        amazonState: response.data.statusDetails.state,
        amazonReasonCode: response.data.statusDetails.reasonCode ?? null,
      },
      'Amazon Pay answered',
    );
  }
}

type Step =
  | { kind: 'decided'; outcome: Outcome }
  /** Amazon may have acted: read the session back before deciding. */
  | { kind: 'ambiguous'; reason: string }
  /** Nothing learned this round; leave it to the reconciler. */
  | Undecided;

interface Undecided {
  kind: 'undecided';
  reason: string;
  /** Do not look again before this many ms (the circuit's remaining open time). */
  notBeforeMs?: number;
  /** The bulkhead refused the call: nothing was sent. */
  refused?: boolean;
}

function cleanAddress(address: PostalAddress | null | undefined): PostalAddress | null {
  if (!address) return null;
  const {
    name,
    addressLine1,
    addressLine2,
    addressLine3,
    city,
    county,
    district,
    stateOrRegion,
    postalCode,
    countryCode,
    phoneNumber,
  } = address;
  return {
    name: name ?? null,
    addressLine1: addressLine1 ?? null,
    addressLine2: addressLine2 ?? null,
    addressLine3: addressLine3 ?? null,
    city: city ?? null,
    county: county ?? null,
    district: district ?? null,
    stateOrRegion: stateOrRegion ?? null,
    postalCode: postalCode ?? null,
    countryCode: countryCode ?? null,
    phoneNumber: phoneNumber ?? null,
  };
}

/** Keeps exactly the buyer fields we show and store (allow-list: Amazon may add fields we never asked for). */
export function buyerDetailsOf(session: CheckoutSession): BuyerDetails {
  const shipping = session.shippingAddress ?? session.shippingAddressList?.[0] ?? null;
  return {
    buyerId: session.buyer?.buyerId ?? null,
    name: session.buyer?.name ?? null,
    email: session.buyer?.email ?? null,
    phone: session.buyer?.phoneNumber ?? session.billingAddress?.phoneNumber ?? null,
    billingAddress: cleanAddress(session.billingAddress),
    shippingAddress: cleanAddress(shipping),
  };
}

function completedOutcome(session: CheckoutSession): Outcome {
  return {
    state: 'completed',
    reasonCode: null,
    messageCode: null,
    buyer: buyerDetailsOf(session),
    chargePermissionId: session.chargePermissionId ?? null,
    amazonCreatedAt: session.creationTimestamp ?? null,
    amazonUpdatedAt: session.statusDetails.lastUpdatedTimestamp ?? null,
    nextAttemptAt: null,
  };
}

function failedOutcome(reasonCode: string, session?: CheckoutSession): Outcome {
  return {
    state: 'failed',
    reasonCode,
    messageCode: messageCodeForReason(reasonCode),
    buyer: null,
    chargePermissionId: null,
    amazonCreatedAt: session?.creationTimestamp ?? null,
    amazonUpdatedAt: session?.statusDetails.lastUpdatedTimestamp ?? null,
    nextAttemptAt: null,
  };
}

/** Error fields safe for logs: type and message, no stack of request data. */
export function safeError(err: unknown): { type: string; message: string; code?: string } {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { type: err.name, message: err.message, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { type: typeof err, message: 'non-error thrown' };
}
