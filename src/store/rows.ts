// Row ↔ domain mapping shared by the SQLite and PostgreSQL stores (snake_case columns, epoch-ms integers).
import type { Binding, BuyerDetails, CheckoutRecord, PostalAddress, RecordState } from './store.ts';

/** What either driver hands back: pg returns BIGINT as string and JSONB parsed; node:sqlite returns JSON as text. */
type DbInt = number | string | bigint;
type DbJson = string | object;

export interface RecordRow {
  checkout_session_id: string;
  binding_id: string;
  state: string;
  attempts: DbInt;
  lease_owner: string | null;
  lease_expires_at: DbInt | null;
  next_attempt_at: DbInt | null;
  reason_code: string | null;
  message_code: string | null;
  buyer_id: string | null;
  buyer_name: string | null;
  buyer_email: string | null;
  buyer_phone: string | null;
  billing_address: DbJson | null;
  shipping_address: DbJson | null;
  charge_permission_id: string | null;
  amazon_created_at: string | null;
  amazon_updated_at: string | null;
  created_at: DbInt;
  updated_at: DbInt;
  decided_at: DbInt | null;
  pii_purged_at: DbInt | null;
}

export interface BindingRow {
  binding_id: string;
  created_at: DbInt;
  expires_at: DbInt;
  checkout_session_id: string | null;
}

const STATES: ReadonlySet<string> = new Set(['pending', 'completed', 'failed', 'unknown']);

export function toInt(value: DbInt): number {
  const n = Number(value);
  // Epoch ms and counters stay far below 2^53; anything else means a corrupted row, not a value to round.
  if (!Number.isSafeInteger(n)) throw new Error(`store: integer column out of range: ${String(value)}`);
  return n;
}

function toIntOrNull(value: DbInt | null): number | null {
  return value === null ? null : toInt(value);
}

function toAddress(value: DbJson | null): PostalAddress | null {
  if (value === null) return null;
  return (typeof value === 'string' ? JSON.parse(value) : value) as PostalAddress;
}

export function addressParam(address: PostalAddress | null | undefined): string | null {
  return address == null ? null : JSON.stringify(address);
}

/**
 * Buyer details live in flat columns (so a purge is a plain UPDATE to NULL); a record whose buyer columns
 * are all NULL has no buyer (never set, or purged).
 */
function toBuyer(row: RecordRow): BuyerDetails | null {
  if (
    row.buyer_id === null &&
    row.buyer_name === null &&
    row.buyer_email === null &&
    row.buyer_phone === null &&
    row.billing_address === null &&
    row.shipping_address === null
  ) {
    return null;
  }
  return {
    buyerId: row.buyer_id,
    name: row.buyer_name,
    email: row.buyer_email,
    phone: row.buyer_phone,
    billingAddress: toAddress(row.billing_address),
    shippingAddress: toAddress(row.shipping_address),
  };
}

/** Builds a plain object (node:sqlite rows have a null prototype; callers compare with toStrictEqual). */
export function toRecord(row: RecordRow): CheckoutRecord {
  if (!STATES.has(row.state)) throw new Error(`store: unexpected record state ${row.state}`);
  return {
    checkoutSessionId: row.checkout_session_id,
    bindingId: row.binding_id,
    state: row.state as RecordState,
    attempts: toInt(row.attempts),
    leaseOwner: row.lease_owner,
    leaseExpiresAt: toIntOrNull(row.lease_expires_at),
    nextAttemptAt: toIntOrNull(row.next_attempt_at),
    reasonCode: row.reason_code,
    messageCode: row.message_code,
    buyer: toBuyer(row),
    chargePermissionId: row.charge_permission_id,
    amazonCreatedAt: row.amazon_created_at,
    amazonUpdatedAt: row.amazon_updated_at,
    createdAt: toInt(row.created_at),
    updatedAt: toInt(row.updated_at),
    decidedAt: toIntOrNull(row.decided_at),
    piiPurgedAt: toIntOrNull(row.pii_purged_at),
  };
}

export function toBinding(row: BindingRow): Binding {
  return {
    bindingId: row.binding_id,
    createdAt: toInt(row.created_at),
    expiresAt: toInt(row.expires_at),
    checkoutSessionId: row.checkout_session_id,
  };
}

/** Oldest-first, so callers (and tests) see a stable order whatever order RETURNING produced. */
export function byCreatedAt(a: CheckoutRecord, b: CheckoutRecord): number {
  return a.createdAt - b.createdAt || (a.checkoutSessionId < b.checkoutSessionId ? -1 : 1);
}
