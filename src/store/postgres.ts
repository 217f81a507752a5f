// The multi-instance checkout store on PostgreSQL (pg Pool): the claim and the reconciler's pick-up hold across instances.
//
// Cross-instance claim design:
// - claim: one READ COMMITTED transaction. `SELECT … FOR UPDATE` on the binding row serialises claims made
//   with one binding; `INSERT … ON CONFLICT DO NOTHING` on the record's primary key makes the first insert
//   win (a concurrent inserter waits for it, then does nothing); a loser then `SELECT … FOR UPDATE`s the row,
//   which waits for the winner's commit and reads its lease, so exactly one transaction sees no live lease.
// - Leases (lease_owner, lease_expires_at) outlive the transaction: the lock only guards the decision, the
//   lease guards the Amazon call that follows. An instance that dies loses its lease at expiry and the
//   reconciler (or the next claim) takes over; the stale owner's `finish` then matches nothing.
// - claimDue: one `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT n)`: concurrent reconcilers
//   skip rows another is leasing instead of queueing behind it, and the re-checked WHERE (EvalPlanQual)
//   drops rows leased by a claim that committed meanwhile.
// - Lease times come from the callers' clocks (`now`), not the database's: instances must run NTP; a skew
//   shortens or lengthens leases by the skew, it never lets two holders see a live lease as theirs at once
//   because every lease change happens under the row lock.
import pg from 'pg';
import { type Migration, postgresMigrations } from './migrations.ts';
import { addressParam, type BindingRow, byCreatedAt, type RecordRow, toBinding, toRecord } from './rows.ts';
import type { Binding, CheckoutRecord, CheckoutStore, ClaimResult, Outcome, StoreStats } from './store.ts';

export interface PostgresStoreLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface PostgresStoreOptions {
  connectionString: string;
  /** Tables live in this schema (created by migrate); `search_path` is set on every connection. */
  schema?: string;
  /** Pool size per instance (default 10). Instances × max must stay under the server's max_connections. */
  max?: number;
  /** Waiting for a free or new connection; pg's default (0) waits forever. */
  connectionTimeoutMillis?: number;
  /** Server-side cap per statement. */
  statementTimeoutMillis?: number;
  /** Migrations may wait for another instance's migration (advisory lock) and run DDL: a longer cap. */
  migrationTimeoutMillis?: number;
  logger?: PostgresStoreLogger;
}

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

const RECORD_COLUMNS = `checkout_session_id, binding_id, state, attempts, lease_owner, lease_expires_at,
  next_attempt_at, reason_code, message_code, buyer_id, buyer_name, buyer_email, buyer_phone, billing_address,
  shipping_address, charge_permission_id, amazon_created_at, amazon_updated_at, created_at, updated_at,
  decided_at, pii_purged_at`;

const consoleLogger: PostgresStoreLogger = {
  warn: (obj, msg) => console.warn(msg, obj),
  error: (obj, msg) => console.error(msg, obj),
};

/** A server-side error (has a SQLSTATE) leaves the connection usable; anything else may not. */
function isServerError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string';
}

export class PostgresCheckoutStore implements CheckoutStore {
  readonly #pool: pg.Pool;
  readonly #schema: string | undefined;
  readonly #migrationTimeoutMs: number;
  readonly #logger: PostgresStoreLogger;
  #closed = false;

  constructor(options: PostgresStoreOptions) {
    if (options.schema !== undefined && !IDENT.test(options.schema)) {
      throw new Error('postgres store: schema must match [a-z_][a-z0-9_]*');
    }
    this.#schema = options.schema;
    this.#logger = options.logger ?? consoleLogger;
    const statementTimeout = options.statementTimeoutMillis ?? 5_000;
    this.#migrationTimeoutMs = options.migrationTimeoutMillis ?? 60_000;
    this.#pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.max ?? 10,
      connectionTimeoutMillis: options.connectionTimeoutMillis ?? 5_000,
      idleTimeoutMillis: 30_000,
      statement_timeout: statementTimeout,
      // Client-side cap for when the server or network stops answering altogether.
      query_timeout: statementTimeout + 2_000,
      // A client that crashed mid-transaction must not hold row locks (and so block every claim) for long.
      idle_in_transaction_session_timeout: statementTimeout * 2,
      fallback_application_name: 'checkout-store',
      // Set at connection start-up rather than with a query after connect, so no query can ever run before it.
      ...(options.schema !== undefined ? { options: `-c search_path=${options.schema}` } : {}),
    });
    // Without a listener, an idle client's connection error (server restart, network drop) crashes the process.
    this.#pool.on('error', (err) => {
      this.#logger.error(
        { err: { message: err.message, code: (err as { code?: string }).code } },
        'postgres pool error',
      );
    });
  }

  /**
   * Runs `fn` in one transaction on one client. On a server error the transaction is rolled back and the
   * client reused; on anything else (timeout, broken socket) the client is destroyed, which makes the server
   * roll back, since a query may still be in flight on it.
   */
  async #tx<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    let destroy: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      if (isServerError(err)) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackErr) {
          destroy = rollbackErr as Error;
        }
      } else {
        destroy = err instanceof Error ? err : new Error(String(err));
      }
      throw err;
    } finally {
      client.release(destroy ?? false);
    }
  }

  /**
   * Each migration in its own transaction under a transaction-scoped advisory lock keyed by the schema:
   * instances starting together queue on the lock, and each re-reads schema_migrations once it holds it, so
   * every migration runs exactly once, in order. DDL is transactional in PostgreSQL: a failure leaves
   * nothing half-applied, and the lock is released at commit/rollback even if the instance dies.
   */
  async migrate(): Promise<void> {
    const lockKey = `checkout-store:migrate:${this.#schema ?? 'default'}`;
    const timeout = this.#migrationTimeoutMs;
    // pg honours a per-query query_timeout; @types/pg's QueryConfig does not declare it.
    const q = (client: pg.PoolClient, text: string, values: unknown[] = []): Promise<pg.QueryResult> =>
      client.query({ text, values, query_timeout: timeout + 2_000 } as pg.QueryConfig);
    for (;;) {
      const done = await this.#tx(async (client) => {
        await q(client, `SET LOCAL statement_timeout = ${Math.trunc(timeout)}`);
        await q(client, 'SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [lockKey]);
        if (this.#schema !== undefined) {
          // Checked first: CREATE SCHEMA IF NOT EXISTS still demands CREATE on the database, which a
          // production role usually lacks once the schema exists.
          const found = await q(client, 'SELECT 1 FROM pg_namespace WHERE nspname = $1', [this.#schema]);
          if (found.rowCount === 0) await q(client, `CREATE SCHEMA ${this.#schema}`);
        }
        // Looked up first for the same reason: CREATE TABLE IF NOT EXISTS demands CREATE on the schema even
        // when the table exists, so a role without it could not start an up-to-date deployment.
        // current_schema() is where CREATE TABLE would put it (the first existing schema on search_path).
        const table = await q(
          client,
          "SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'schema_migrations'",
        );
        if (table.rowCount === 0) {
          await q(
            client,
            `CREATE TABLE schema_migrations (
              version integer PRIMARY KEY,
              name text NOT NULL,
              applied_at bigint NOT NULL
            )`,
          );
        }
        const applied = await q(client, 'SELECT version FROM schema_migrations');
        const versions = new Set(applied.rows.map((r: { version: number }) => r.version));
        const next: Migration | undefined = postgresMigrations.find((m) => !versions.has(m.version));
        if (next === undefined) return true;
        await q(client, next.sql);
        await q(client, 'INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
          next.version,
          next.name,
          Date.now(),
        ]);
        return false;
      });
      if (done) return;
    }
  }

  async createBinding(binding: Binding): Promise<void> {
    await this.#pool.query(
      'INSERT INTO bindings (binding_id, created_at, expires_at, checkout_session_id) VALUES ($1, $2, $3, $4)',
      [binding.bindingId, binding.createdAt, binding.expiresAt, binding.checkoutSessionId],
    );
  }

  async getBinding(bindingId: string): Promise<Binding | undefined> {
    const { rows } = await this.#pool.query<BindingRow>(
      'SELECT binding_id, created_at, expires_at, checkout_session_id FROM bindings WHERE binding_id = $1',
      [bindingId],
    );
    return rows[0] === undefined ? undefined : toBinding(rows[0]);
  }

  // See the design note at the top of the file. Outcomes that write nothing (binding-unknown, mismatch,
  // busy, decided) commit an empty transaction, which only releases the row locks.
  claim(input: {
    checkoutSessionId: string;
    bindingId: string;
    owner: string;
    leaseMs: number;
    now: number;
  }): Promise<ClaimResult> {
    const { checkoutSessionId: id, bindingId, owner, leaseMs, now } = input;
    return this.#tx(async (client): Promise<ClaimResult> => {
      const bindingRows = await client.query<BindingRow>(
        'SELECT binding_id, created_at, expires_at, checkout_session_id FROM bindings WHERE binding_id = $1 FOR UPDATE',
        [bindingId],
      );
      const binding = bindingRows.rows[0];
      if (binding === undefined || Number(binding.expires_at) <= now) return { kind: 'binding-unknown' };
      if (binding.checkout_session_id !== null && binding.checkout_session_id !== id) {
        return { kind: 'binding-mismatch' };
      }
      const inserted = await client.query<RecordRow>(
        `INSERT INTO checkout_records (checkout_session_id, binding_id, state, attempts, lease_owner,
           lease_expires_at, created_at, updated_at)
         VALUES ($1, $2, 'pending', 1, $3, $4, $5, $5)
         ON CONFLICT (checkout_session_id) DO NOTHING
         RETURNING ${RECORD_COLUMNS}`,
        [id, bindingId, owner, now + leaseMs, now],
      );
      if (inserted.rows[0] !== undefined) {
        // Bound in the same transaction as the insert: a binding never points at a record it does not own.
        await client.query('UPDATE bindings SET checkout_session_id = $2 WHERE binding_id = $1', [
          bindingId,
          id,
        ]);
        return { kind: 'claimed', record: toRecord(inserted.rows[0]) };
      }
      const existing = await client.query<RecordRow>(
        `SELECT ${RECORD_COLUMNS} FROM checkout_records WHERE checkout_session_id = $1 FOR UPDATE`,
        [id],
      );
      const row = existing.rows[0];
      // Records are never deleted, so a conflict without a row is a broken invariant, not a race to retry.
      if (row === undefined) throw new Error('postgres store: record vanished during claim');
      if (row.binding_id !== bindingId) return { kind: 'binding-mismatch' };
      const record = toRecord(row);
      if (record.state === 'completed' || record.state === 'failed') return { kind: 'decided', record };
      if (record.leaseExpiresAt !== null && record.leaseExpiresAt > now) return { kind: 'busy', record };
      const leased = await client.query<RecordRow>(
        `UPDATE checkout_records
         SET lease_owner = $2, lease_expires_at = $3, attempts = attempts + 1, updated_at = $4
         WHERE checkout_session_id = $1
         RETURNING ${RECORD_COLUMNS}`,
        [id, owner, now + leaseMs, now],
      );
      return { kind: 'claimed', record: toRecord(leased.rows[0]!) };
    });
  }

  // One conditional UPDATE, atomic on its own (autocommit) and committed before the promise resolves. An
  // owner whose lease expired but was not taken over may still finish (it did the work; Amazon's idempotency
  // key made it safe); once someone else took the lease, lease_owner differs and nothing is written.
  async finish(input: {
    checkoutSessionId: string;
    owner: string;
    outcome: Outcome;
    now: number;
  }): Promise<CheckoutRecord | undefined> {
    const { outcome, now } = input;
    const buyer = outcome.buyer;
    const { rows } = await this.#pool.query<RecordRow>(
      `UPDATE checkout_records
       SET state = $3, reason_code = $4, message_code = $5,
         buyer_id = $6, buyer_name = $7, buyer_email = $8, buyer_phone = $9,
         billing_address = $10::jsonb, shipping_address = $11::jsonb,
         charge_permission_id = $12, amazon_created_at = $13, amazon_updated_at = $14,
         next_attempt_at = $15, decided_at = $16, updated_at = $17,
         lease_owner = NULL, lease_expires_at = NULL
       WHERE checkout_session_id = $1 AND lease_owner = $2 AND state IN ('pending', 'unknown')
       RETURNING ${RECORD_COLUMNS}`,
      [
        input.checkoutSessionId,
        input.owner,
        outcome.state,
        outcome.reasonCode,
        outcome.messageCode,
        buyer?.buyerId ?? null,
        buyer?.name ?? null,
        buyer?.email ?? null,
        buyer?.phone ?? null,
        addressParam(buyer?.billingAddress),
        addressParam(buyer?.shippingAddress),
        outcome.chargePermissionId,
        outcome.amazonCreatedAt,
        outcome.amazonUpdatedAt,
        outcome.state === 'unknown' ? outcome.nextAttemptAt : null,
        outcome.state === 'unknown' ? null : now,
        now,
      ],
    );
    return rows[0] === undefined ? undefined : toRecord(rows[0]);
  }

  async get(checkoutSessionId: string): Promise<CheckoutRecord | undefined> {
    const { rows } = await this.#pool.query<RecordRow>(
      `SELECT ${RECORD_COLUMNS} FROM checkout_records WHERE checkout_session_id = $1`,
      [checkoutSessionId],
    );
    return rows[0] === undefined ? undefined : toRecord(rows[0]);
  }

  // One statement (see the design note): selection with FOR UPDATE SKIP LOCKED and the lease write commit
  // together, so no record is returned to two callers while its lease is live.
  async claimDue(input: {
    owner: string;
    leaseMs: number;
    now: number;
    limit: number;
  }): Promise<CheckoutRecord[]> {
    if (input.limit <= 0) return [];
    const { rows } = await this.#pool.query<RecordRow>(
      `UPDATE checkout_records
       SET lease_owner = $1, lease_expires_at = $2, attempts = attempts + 1, updated_at = $3
       WHERE checkout_session_id IN (
         SELECT checkout_session_id FROM checkout_records
         WHERE state IN ('pending', 'unknown')
           AND (state = 'pending' OR next_attempt_at IS NULL OR next_attempt_at <= $3)
           AND (lease_expires_at IS NULL OR lease_expires_at <= $3)
         ORDER BY created_at, checkout_session_id
         LIMIT $4
         FOR UPDATE SKIP LOCKED
       )
       RETURNING ${RECORD_COLUMNS}`,
      [input.owner, input.now + input.leaseMs, input.now, input.limit],
    );
    return rows.map(toRecord).sort(byCreatedAt);
  }

  // A single UPDATE: atomic on its own; it touches only decided records, which nothing else writes.
  async purgeBuyerDetails(before: number, now: number): Promise<number> {
    const result = await this.#pool.query(
      `UPDATE checkout_records
       SET buyer_id = NULL, buyer_name = NULL, buyer_email = NULL, buyer_phone = NULL,
         billing_address = NULL, shipping_address = NULL, pii_purged_at = $2, updated_at = $2
       WHERE state IN ('completed', 'failed') AND decided_at < $1 AND pii_purged_at IS NULL
         AND (buyer_id IS NOT NULL OR buyer_name IS NOT NULL OR buyer_email IS NOT NULL
           OR buyer_phone IS NOT NULL OR billing_address IS NOT NULL OR shipping_address IS NOT NULL)`,
      [before, now],
    );
    return result.rowCount ?? 0;
  }

  async deleteExpiredBindings(before: number): Promise<number> {
    const result = await this.#pool.query(
      'DELETE FROM bindings WHERE expires_at < $1 AND checkout_session_id IS NULL',
      [before],
    );
    return result.rowCount ?? 0;
  }

  async stats(now: number): Promise<StoreStats> {
    const { rows } = await this.#pool.query<{ pending: string; unknown: string; oldest: string | null }>(
      `SELECT count(*) FILTER (WHERE state = 'pending') AS pending,
              count(*) FILTER (WHERE state = 'unknown') AS unknown,
              min(created_at) AS oldest
       FROM checkout_records WHERE state IN ('pending', 'unknown')`,
    );
    const row = rows[0]!;
    return {
      pending: Number(row.pending),
      unknown: Number(row.unknown),
      oldestOpenAgeMs: row.oldest === null ? 0 : Math.max(0, now - Number(row.oldest)),
    };
  }

  async ping(): Promise<void> {
    await this.#pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }
}
