// The checkout store interface: one record per checkout session id, browser bindings, and the atomic claim
// that makes completion exactly-once across requests, processes and instances. Backends: sqlite, postgres.

export type RecordState = 'pending' | 'completed' | 'failed' | 'unknown';

export interface PostalAddress {
  name?: string | null;
  addressLine1?: string | null;
  addressLine2?: string | null;
  addressLine3?: string | null;
  city?: string | null;
  county?: string | null;
  district?: string | null;
  stateOrRegion?: string | null;
  postalCode?: string | null;
  countryCode?: string | null;
  phoneNumber?: string | null;
}

export interface BuyerDetails {
  buyerId: string | null;
  name: string | null;
  email: string | null;
  phone: string | null;
  billingAddress: PostalAddress | null;
  shippingAddress: PostalAddress | null;
}

export interface CheckoutRecord {
  checkoutSessionId: string;
  bindingId: string;
  state: RecordState;
  /** Complete/Get rounds started for this record (by the request path or the reconciler). */
  attempts: number;
  /** Who holds the lease (`<instance>:<random>`), null when nobody works on the record. */
  leaseOwner: string | null;
  /** Epoch ms; a lease past this time may be taken over. */
  leaseExpiresAt: number | null;
  /** Epoch ms before which the reconciler leaves an `unknown` record alone (backoff). */
  nextAttemptAt: number | null;
  /** Amazon's reason code (or ours) behind a failure; null otherwise. */
  reasonCode: string | null;
  /** Stable buyer message code from the catalogue, for failures. */
  messageCode: string | null;
  buyer: BuyerDetails | null;
  chargePermissionId: string | null;
  /** Amazon's timestamps as Amazon wrote them (`YYYYMMDDTHHMMSSZ`). */
  amazonCreatedAt: string | null;
  amazonUpdatedAt: string | null;
  /** Epoch ms. */
  createdAt: number;
  updatedAt: number;
  decidedAt: number | null;
  /** Epoch ms when buyer details were purged under the retention policy. */
  piiPurgedAt: number | null;
}

export interface Binding {
  bindingId: string;
  /** Epoch ms. */
  createdAt: number;
  expiresAt: number;
  /** The one checkout session this binding may complete; set by the first claim. */
  checkoutSessionId: string | null;
}

export type ClaimResult =
  /** The caller holds the lease and must drive the record to an outcome (then `finish`). */
  | { kind: 'claimed'; record: CheckoutRecord }
  /** Already completed or failed: nothing to do but show it. */
  | { kind: 'decided'; record: CheckoutRecord }
  /** Another worker holds a live lease (in this or another process); show "confirming". */
  | { kind: 'busy'; record: CheckoutRecord }
  /** The session belongs to another binding, or this binding already holds another session. */
  | { kind: 'binding-mismatch' }
  /** The binding does not exist or has expired. */
  | { kind: 'binding-unknown' };

export interface Outcome {
  state: 'completed' | 'failed' | 'unknown';
  reasonCode: string | null;
  messageCode: string | null;
  buyer: BuyerDetails | null;
  chargePermissionId: string | null;
  amazonCreatedAt: string | null;
  amazonUpdatedAt: string | null;
  /** For `unknown`: when the reconciler should look again (epoch ms). */
  nextAttemptAt: number | null;
}

export interface StoreStats {
  pending: number;
  unknown: number;
  /** Age in ms of the oldest pending or unknown record, 0 when there is none. */
  oldestOpenAgeMs: number;
}

export interface CheckoutStore {
  /** Applies pending migrations (idempotent; safe when several instances start together). */
  migrate(): Promise<void>;

  /** Inserts a new binding. Atomic single insert; ids are random, a duplicate id is an error. */
  createBinding(binding: Binding): Promise<void>;

  getBinding(bindingId: string): Promise<Binding | undefined>;

  /**
   * The exactly-once gate, atomic (one transaction / one row lock):
   * - binding missing or expired at `now` → binding-unknown (nothing written);
   * - binding bound to a different session, or the record belongs to a different binding → binding-mismatch;
   * - otherwise the binding is bound to this session (first claim wins) and
   *   - no record: insert `pending` with the lease (owner, now + leaseMs), attempts = 1 → claimed;
   *   - `completed`/`failed` → decided;
   *   - `pending`/`unknown` with no lease or an expired lease → take the lease, attempts + 1 → claimed;
   *   - otherwise → busy.
   */
  claim(input: {
    checkoutSessionId: string;
    bindingId: string;
    owner: string;
    leaseMs: number;
    now: number;
  }): Promise<ClaimResult>;

  /**
   * Writes the outcome and releases the lease, atomically, only while `owner` still holds the lease and the
   * record is not decided. Returns the stored record, or undefined if the lease was lost (someone else took
   * over after expiry), in which case nothing was written. Committed (durable) before it resolves.
   */
  finish(input: {
    checkoutSessionId: string;
    owner: string;
    outcome: Outcome;
    now: number;
  }): Promise<CheckoutRecord | undefined>;

  get(checkoutSessionId: string): Promise<CheckoutRecord | undefined>;

  /**
   * The reconciler's pick-up, atomic per record: leases up to `limit` records that are `unknown` with
   * `nextAttemptAt <= now` (or null) and no live lease, or `pending` with an expired lease; attempts + 1.
   * Two callers never receive the same record while its lease is live.
   */
  claimDue(input: { owner: string; leaseMs: number; now: number; limit: number }): Promise<CheckoutRecord[]>;

  /** Clears buyer details of decided records decided before `before` (epoch ms); returns how many. */
  purgeBuyerDetails(before: number, now: number): Promise<number>;

  /** Deletes bindings that expired before `before` and bound no session. Returns how many. */
  deleteExpiredBindings(before: number): Promise<number>;

  stats(now: number): Promise<StoreStats>;

  /** Cheap round trip for readiness. Throws when the store is unreachable. */
  ping(): Promise<void>;

  close(): Promise<void>;
}
