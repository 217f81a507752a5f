// One contract suite for CheckoutStore, run against SQLite (temp file) and a real PostgreSQL (throwaway schema).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createStore } from '../src/store/index.ts';
import { PostgresCheckoutStore } from '../src/store/postgres.ts';
import { SqliteCheckoutStore } from '../src/store/sqlite.ts';
import type { BuyerDetails, CheckoutStore, Outcome } from '../src/store/store.ts';

const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const RUN = randomBytes(4).toString('hex');
const T0 = 1_750_000_000_000;
const LEASE = 30_000;

interface Backend {
  name: string;
  setup(): Promise<void>;
  /** A new store instance (its own connection/pool) on this run's database, migrated. */
  open(): Promise<CheckoutStore>;
  /** Empties both tables between tests. */
  reset(): Promise<void>;
  teardown(): Promise<void>;
}

function sqliteBackend(): Backend {
  let dir = '';
  let file = '';
  return {
    name: 'sqlite',
    async setup() {
      dir = mkdtempSync(join(tmpdir(), 'store-test-'));
      file = join(dir, 'nested', 'checkout.db');
    },
    async open() {
      const store = new SqliteCheckoutStore(file);
      await store.migrate();
      return store;
    },
    async reset() {
      const db = new DatabaseSync(file);
      db.exec('DELETE FROM checkout_records; DELETE FROM bindings;');
      db.close();
    },
    async teardown() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function postgresBackend(): Backend {
  const schema = `store_test_${RUN}`;
  const admin = new pg.Pool({ connectionString: PG_URL, max: 2, connectionTimeoutMillis: 5_000 });
  return {
    name: 'postgres',
    async setup() {
      await admin.query('SELECT 1');
    },
    async open() {
      const store = new PostgresCheckoutStore({ connectionString: PG_URL, schema, max: 10 });
      await store.migrate();
      return store;
    },
    async reset() {
      await admin.query(`TRUNCATE ${schema}.checkout_records, ${schema}.bindings`);
    },
    async teardown() {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    },
  };
}

const buyer: BuyerDetails = {
  buyerId: 'amzn1.account.TESTBUYER',
  name: 'Jane Doe',
  email: 'jane@example.com',
  phone: '+1 206 555 0100',
  billingAddress: { name: 'Jane Doe', addressLine1: '410 Terry Ave N', city: 'Seattle', countryCode: 'US' },
  shippingAddress: { name: 'Jane Doe', addressLine1: '1 Main St', postalCode: '98109', countryCode: 'US' },
};

function completed(): Outcome {
  return {
    state: 'completed',
    reasonCode: null,
    messageCode: null,
    buyer,
    chargePermissionId: 'S01-0000000-0000000',
    amazonCreatedAt: '20250101T000000Z',
    amazonUpdatedAt: '20250101T000005Z',
    nextAttemptAt: null,
  };
}

function unknownOutcome(nextAttemptAt: number): Outcome {
  return {
    state: 'unknown',
    reasonCode: 'Timeout',
    messageCode: 'confirming',
    buyer: null,
    chargePermissionId: null,
    amazonCreatedAt: null,
    amazonUpdatedAt: null,
    nextAttemptAt,
  };
}

describe.each([sqliteBackend(), postgresBackend()])('CheckoutStore contract: $name', (backend) => {
  let store: CheckoutStore;
  let seq = 0;
  const id = () => `session-${RUN}-${++seq}`;

  async function binding(now = T0, ttl = 600_000): Promise<string> {
    const bindingId = `binding-${RUN}-${++seq}`;
    await store.createBinding({ bindingId, createdAt: now, expiresAt: now + ttl, checkoutSessionId: null });
    return bindingId;
  }

  /** A record in state `pending` with a live lease held by `owner`. */
  async function claimed(owner = 'inst-a:1', now = T0) {
    const bindingId = await binding(now);
    const checkoutSessionId = id();
    const result = await store.claim({ checkoutSessionId, bindingId, owner, leaseMs: LEASE, now });
    expect(result.kind).toBe('claimed');
    return { bindingId, checkoutSessionId };
  }

  beforeAll(() => backend.setup());
  afterAll(() => backend.teardown());
  beforeEach(async () => {
    store = await backend.open();
    await backend.reset();
  });
  afterEach(() => store.close());

  it('answers binding-unknown for a missing or expired binding and writes nothing', async () => {
    const s1 = id();
    expect(
      await store.claim({ checkoutSessionId: s1, bindingId: 'nope', owner: 'o', leaseMs: LEASE, now: T0 }),
    ).toEqual({ kind: 'binding-unknown' });
    expect(await store.get(s1)).toBeUndefined();

    const expired = await binding(T0, 1_000);
    const s2 = id();
    const atExpiry = {
      checkoutSessionId: s2,
      bindingId: expired,
      owner: 'o',
      leaseMs: LEASE,
      now: T0 + 1_000,
    };
    expect(await store.claim(atExpiry)).toEqual({ kind: 'binding-unknown' });
    expect(await store.get(s2)).toBeUndefined();
    expect((await store.getBinding(expired))?.checkoutSessionId).toBeNull();
  });

  it('first claim inserts a pending record with the lease and binds the binding', async () => {
    const bindingId = await binding();
    const checkoutSessionId = id();
    const result = await store.claim({
      checkoutSessionId,
      bindingId,
      owner: 'inst-a:1',
      leaseMs: LEASE,
      now: T0,
    });
    expect(result).toStrictEqual({
      kind: 'claimed',
      record: {
        checkoutSessionId,
        bindingId,
        state: 'pending',
        attempts: 1,
        leaseOwner: 'inst-a:1',
        leaseExpiresAt: T0 + LEASE,
        nextAttemptAt: null,
        reasonCode: null,
        messageCode: null,
        buyer: null,
        chargePermissionId: null,
        amazonCreatedAt: null,
        amazonUpdatedAt: null,
        createdAt: T0,
        updatedAt: T0,
        decidedAt: null,
        piiPurgedAt: null,
      },
    });
    expect(await store.get(checkoutSessionId)).toStrictEqual(
      result.kind === 'claimed' ? result.record : null,
    );
    expect(await store.getBinding(bindingId)).toStrictEqual({
      bindingId,
      createdAt: T0,
      expiresAt: T0 + 600_000,
      checkoutSessionId,
    });
  });

  it('answers busy while another worker holds a live lease', async () => {
    const { bindingId, checkoutSessionId } = await claimed('inst-a:1');
    const again = await store.claim({
      checkoutSessionId,
      bindingId,
      owner: 'inst-b:2',
      leaseMs: LEASE,
      now: T0 + 1,
    });
    expect(again.kind).toBe('busy');
    expect(again.kind === 'busy' && again.record.leaseOwner).toBe('inst-a:1');
    expect((await store.get(checkoutSessionId))?.attempts).toBe(1);
  });

  it('answers binding-mismatch when the session belongs to another binding', async () => {
    const { checkoutSessionId } = await claimed();
    const other = await binding();
    const result = await store.claim({
      checkoutSessionId,
      bindingId: other,
      owner: 'o',
      leaseMs: LEASE,
      now: T0 + 1,
    });
    expect(result).toEqual({ kind: 'binding-mismatch' });
    expect((await store.getBinding(other))?.checkoutSessionId).toBeNull();
  });

  it('answers binding-mismatch when the binding already holds another session', async () => {
    const { bindingId } = await claimed();
    const s2 = id();
    const result = await store.claim({
      checkoutSessionId: s2,
      bindingId,
      owner: 'o',
      leaseMs: LEASE,
      now: T0 + 1,
    });
    expect(result).toEqual({ kind: 'binding-mismatch' });
    expect(await store.get(s2)).toBeUndefined();
  });

  it('lets an expired lease be claimed again with attempts + 1', async () => {
    const { bindingId, checkoutSessionId } = await claimed('inst-a:1');
    const now = T0 + LEASE;
    const result = await store.claim({
      checkoutSessionId,
      bindingId,
      owner: 'inst-b:2',
      leaseMs: LEASE,
      now,
    });
    expect(result.kind).toBe('claimed');
    if (result.kind !== 'claimed') return;
    expect(result.record).toMatchObject({
      state: 'pending',
      attempts: 2,
      leaseOwner: 'inst-b:2',
      leaseExpiresAt: now + LEASE,
      updatedAt: now,
      createdAt: T0,
    });
  });

  it('finish by the owner writes the outcome and buyer details and releases the lease', async () => {
    const { checkoutSessionId } = await claimed('inst-a:1');
    const record = await store.finish({
      checkoutSessionId,
      owner: 'inst-a:1',
      outcome: completed(),
      now: T0 + 500,
    });
    expect(record).toMatchObject({
      state: 'completed',
      leaseOwner: null,
      leaseExpiresAt: null,
      nextAttemptAt: null,
      chargePermissionId: 'S01-0000000-0000000',
      amazonCreatedAt: '20250101T000000Z',
      amazonUpdatedAt: '20250101T000005Z',
      decidedAt: T0 + 500,
      updatedAt: T0 + 500,
      attempts: 1,
    });
    expect(record?.buyer).toStrictEqual(buyer);
    expect(await store.get(checkoutSessionId)).toStrictEqual(record);
  });

  it('finish by a non-owner after a takeover returns undefined and writes nothing', async () => {
    const { bindingId, checkoutSessionId } = await claimed('inst-a:1');
    const takeover = await store.claim({
      checkoutSessionId,
      bindingId,
      owner: 'inst-b:2',
      leaseMs: LEASE,
      now: T0 + LEASE + 1,
    });
    expect(takeover.kind).toBe('claimed');
    const before = await store.get(checkoutSessionId);
    const stale = await store.finish({
      checkoutSessionId,
      owner: 'inst-a:1',
      outcome: completed(),
      now: T0 + LEASE + 2,
    });
    expect(stale).toBeUndefined();
    expect(await store.get(checkoutSessionId)).toStrictEqual(before);
    expect(
      await store.finish({ checkoutSessionId: id(), owner: 'x', outcome: completed(), now: T0 }),
    ).toBeUndefined();
  });

  it('answers decided for completed and failed records, and refuses to finish them again', async () => {
    const { bindingId, checkoutSessionId } = await claimed('inst-a:1');
    await store.finish({ checkoutSessionId, owner: 'inst-a:1', outcome: completed(), now: T0 + 1 });
    const result = await store.claim({
      checkoutSessionId,
      bindingId,
      owner: 'inst-b:2',
      leaseMs: LEASE,
      now: T0 + 2,
    });
    expect(result.kind).toBe('decided');
    expect(result.kind === 'decided' && result.record.state).toBe('completed');

    const failedRec = await claimed('inst-a:3');
    const failed = await store.finish({
      checkoutSessionId: failedRec.checkoutSessionId,
      owner: 'inst-a:3',
      outcome: { ...unknownOutcome(0), state: 'failed', reasonCode: 'Declined', messageCode: 'declined' },
      now: T0 + 5,
    });
    expect(failed).toMatchObject({
      state: 'failed',
      reasonCode: 'Declined',
      nextAttemptAt: null,
      decidedAt: T0 + 5,
    });
    const again = await store.claim({
      ...failedRec,
      owner: 'inst-b:4',
      leaseMs: LEASE,
      now: T0 + LEASE * 10,
    });
    expect(again.kind).toBe('decided');
    // A lease-holder that somehow raced a decided record cannot overwrite it.
    expect(
      await store.finish({ checkoutSessionId, owner: 'inst-a:1', outcome: unknownOutcome(T0), now: T0 + 9 }),
    ).toBeUndefined();
  });

  it('finish with unknown keeps the record open with its backoff; a later claim may take it over', async () => {
    const { bindingId, checkoutSessionId } = await claimed('inst-a:1');
    const rec = await store.finish({
      checkoutSessionId,
      owner: 'inst-a:1',
      outcome: unknownOutcome(T0 + 60_000),
      now: T0 + 10,
    });
    expect(rec).toMatchObject({
      state: 'unknown',
      nextAttemptAt: T0 + 60_000,
      decidedAt: null,
      leaseOwner: null,
    });
    const next = await store.claim({
      checkoutSessionId,
      bindingId,
      owner: 'inst-b:2',
      leaseMs: LEASE,
      now: T0 + 20,
    });
    expect(next.kind).toBe('claimed');
    expect(next.kind === 'claimed' && next.record).toMatchObject({ state: 'unknown', attempts: 2 });
  });

  it('lets exactly one of 50 concurrent claims on one id win', async () => {
    const bindingId = await binding();
    const checkoutSessionId = id();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        store.claim({ checkoutSessionId, bindingId, owner: `inst:${i}`, leaseMs: LEASE, now: T0 + 1 }),
      ),
    );
    const kinds = results.map((r) => r.kind);
    expect(kinds.filter((k) => k === 'claimed')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'busy')).toHaveLength(49);
    expect((await store.get(checkoutSessionId))?.attempts).toBe(1);
  });

  it('lets exactly one of 30 concurrent takeovers of an expired lease win', async () => {
    const { bindingId, checkoutSessionId } = await claimed('inst-a:1');
    const now = T0 + LEASE + 1;
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        i % 3 === 0
          ? store.claimDue({ owner: `rec:${i}`, leaseMs: LEASE, now, limit: 5 })
          : store.claim({ checkoutSessionId, bindingId, owner: `inst:${i}`, leaseMs: LEASE, now }),
      ),
    );
    const winners = results.filter((r) => (Array.isArray(r) ? r.length > 0 : r.kind === 'claimed'));
    expect(winners).toHaveLength(1);
    expect((await store.get(checkoutSessionId))?.attempts).toBe(2);
  });

  it('never lets a claim and claimDue both take one expired lease', async () => {
    const records: { bindingId: string; checkoutSessionId: string }[] = [];
    for (let i = 0; i < 40; i++) records.push(await claimed(`a:${i}`, T0 + i));
    const now = T0 + LEASE + 100;
    const claims = records.map((r, i) => store.claim({ ...r, owner: `req:${i}`, leaseMs: LEASE, now }));
    const sweeps = Array.from({ length: 4 }, (_, i) =>
      store.claimDue({ owner: `rec:${i}`, leaseMs: LEASE, now, limit: 40 }),
    );
    const [claimResults, sweepResults] = await Promise.all([Promise.all(claims), Promise.all(sweeps)]);
    const winners = [
      ...claimResults.flatMap((r, i) => (r.kind === 'claimed' ? [records[i]!.checkoutSessionId] : [])),
      ...sweepResults.flat().map((r) => r.checkoutSessionId),
    ];
    expect(winners.sort()).toEqual(records.map((r) => r.checkoutSessionId).sort());
    for (const r of records) expect((await store.get(r.checkoutSessionId))?.attempts).toBe(2);
  });

  it('claimDue leases due unknown and lease-expired pending records, never live ones, up to the limit', async () => {
    const now = T0 + 100_000;
    // Due: unknown whose backoff passed; pending whose lease expired.
    const dueUnknown = await claimed('a:1', T0);
    await store.finish({ ...dueUnknown, owner: 'a:1', outcome: unknownOutcome(now - 1), now: T0 + 1 });
    const expiredPending = await claimed('a:2', T0 + 2); // lease ends T0 + 2 + LEASE < now
    // Not due: unknown still backing off; pending with a live lease; unknown re-leased by a live claim; decided.
    const backingOff = await claimed('a:3', T0 + 3);
    await store.finish({ ...backingOff, owner: 'a:3', outcome: unknownOutcome(now + 1), now: T0 + 4 });
    const live = await claimed('a:4', now - 10);
    const leasedUnknown = await claimed('a:5', T0 + 5);
    await store.finish({ ...leasedUnknown, owner: 'a:5', outcome: unknownOutcome(T0), now: T0 + 6 });
    expect((await store.claim({ ...leasedUnknown, owner: 'b:5', leaseMs: LEASE, now: now - 5 })).kind).toBe(
      'claimed',
    );
    const done = await claimed('a:6', T0 + 7);
    await store.finish({ ...done, owner: 'a:6', outcome: completed(), now: T0 + 8 });

    const first = await store.claimDue({ owner: 'rec:1', leaseMs: LEASE, now, limit: 1 });
    expect(first.map((r) => r.checkoutSessionId)).toEqual([dueUnknown.checkoutSessionId]);
    expect(first[0]).toMatchObject({
      leaseOwner: 'rec:1',
      leaseExpiresAt: now + LEASE,
      attempts: 2,
      state: 'unknown',
    });

    const rest = await store.claimDue({ owner: 'rec:2', leaseMs: LEASE, now, limit: 10 });
    expect(rest.map((r) => r.checkoutSessionId)).toEqual([expiredPending.checkoutSessionId]);
    expect(rest[0]).toMatchObject({ leaseOwner: 'rec:2', attempts: 2, state: 'pending' });

    expect(await store.claimDue({ owner: 'rec:3', leaseMs: LEASE, now, limit: 10 })).toEqual([]);
    expect(await store.claimDue({ owner: 'rec:3', leaseMs: LEASE, now, limit: 0 })).toEqual([]);
    expect((await store.get(live.checkoutSessionId))?.leaseOwner).toBe('a:4');
    expect((await store.get(backingOff.checkoutSessionId))?.leaseOwner).toBeNull();

    // The reconciler that holds the lease finishes; the request path would now see decided.
    const fin = await store.finish({ ...dueUnknown, owner: 'rec:1', outcome: completed(), now: now + 1 });
    expect(fin?.state).toBe('completed');
  });

  it('never hands one record to two concurrent claimDue callers', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const r = await claimed(`a:${i}`, T0 + i);
      await store.finish({ ...r, owner: `a:${i}`, outcome: unknownOutcome(T0), now: T0 + i });
      ids.push(r.checkoutSessionId);
    }
    const now = T0 + 1_000;
    const batches = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        store.claimDue({ owner: `rec:${i}`, leaseMs: LEASE, now, limit: 7 }),
      ),
    );
    const got = batches.flat().map((r) => r.checkoutSessionId);
    expect(new Set(got).size).toBe(got.length);
    expect(got.length).toBe(30);
    expect(new Set(got)).toEqual(new Set(ids));
    for (const batch of batches) expect(batch.length).toBeLessThanOrEqual(7);
  });

  it('purges buyer details of old decided records but keeps ids and chargePermissionId', async () => {
    const old = await claimed('a:1', T0);
    await store.finish({ ...old, owner: 'a:1', outcome: completed(), now: T0 + 1 });
    const recent = await claimed('a:2', T0);
    await store.finish({ ...recent, owner: 'a:2', outcome: completed(), now: T0 + 10_000 });
    const open = await claimed('a:3', T0);

    expect(await store.purgeBuyerDetails(T0 + 5_000, T0 + 20_000)).toBe(1);
    const purged = await store.get(old.checkoutSessionId);
    expect(purged).toMatchObject({
      checkoutSessionId: old.checkoutSessionId,
      bindingId: old.bindingId,
      state: 'completed',
      buyer: null,
      chargePermissionId: 'S01-0000000-0000000',
      piiPurgedAt: T0 + 20_000,
    });
    expect((await store.get(recent.checkoutSessionId))?.buyer).toStrictEqual(buyer);
    expect((await store.get(open.checkoutSessionId))?.piiPurgedAt).toBeNull();
    expect(await store.purgeBuyerDetails(T0 + 5_000, T0 + 30_000)).toBe(0);
    expect((await store.get(old.checkoutSessionId))?.piiPurgedAt).toBe(T0 + 20_000);
  });

  it('deletes only expired bindings that bound no session', async () => {
    const unboundOld = await binding(T0, 1_000);
    const boundOld = (await claimed('a:1', T0)).bindingId; // expires T0 + 600_000
    const fresh = await binding(T0, 10_000_000);
    expect(await store.deleteExpiredBindings(T0 + 1_000_000)).toBe(1);
    expect(await store.getBinding(unboundOld)).toBeUndefined();
    expect(await store.getBinding(boundOld)).toBeDefined();
    expect(await store.getBinding(fresh)).toBeDefined();
  });

  it('counts open records and reports the age of the oldest', async () => {
    expect(await store.stats(T0)).toEqual({ pending: 0, unknown: 0, oldestOpenAgeMs: 0 });
    await claimed('a:1', T0 + 100);
    const u = await claimed('a:2', T0);
    await store.finish({ ...u, owner: 'a:2', outcome: unknownOutcome(T0 + 1), now: T0 + 1 });
    const d = await claimed('a:3', T0 - 50_000);
    await store.finish({ ...d, owner: 'a:3', outcome: completed(), now: T0 });
    expect(await store.stats(T0 + 5_000)).toEqual({ pending: 1, unknown: 1, oldestOpenAgeMs: 5_000 });
  });

  it('rejects a duplicate binding id and returns plain objects', async () => {
    const bindingId = await binding();
    await expect(
      store.createBinding({ bindingId, createdAt: T0, expiresAt: T0 + 1, checkoutSessionId: null }),
    ).rejects.toThrow();
    expect(Object.getPrototypeOf(await store.getBinding(bindingId))).toBe(Object.prototype);
    expect(await store.getBinding('missing')).toBeUndefined();
    expect(await store.get('missing')).toBeUndefined();
  });

  it('migrates twice as a no-op and keeps the data', async () => {
    const { checkoutSessionId } = await claimed();
    await store.migrate();
    const second = await backend.open();
    try {
      await second.migrate();
      expect((await second.get(checkoutSessionId))?.state).toBe('pending');
    } finally {
      await second.close();
    }
  });

  it('pings while open and rejects once closed', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
    const other = await backend.open();
    await other.close();
    await expect(other.ping()).rejects.toThrow();
  });
});

describe('PostgreSQL across instances', () => {
  const schema = `store_test_${RUN}_multi`;
  const admin = new pg.Pool({ connectionString: PG_URL, max: 2, connectionTimeoutMillis: 5_000 });
  const open = () => new PostgresCheckoutStore({ connectionString: PG_URL, schema, max: 8 });

  afterAll(async () => {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  });

  it('migrates concurrently from several instances, each migration once', async () => {
    const stores = [open(), open(), open()];
    try {
      await Promise.all(stores.map((s) => s.migrate()));
      const { rows } = await admin.query(`SELECT version FROM ${schema}.schema_migrations ORDER BY version`);
      expect(rows.map((r) => r.version)).toEqual([1]);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('lets exactly one of 40 claims raced from two pools win', async () => {
    const a = open();
    const b = open();
    try {
      await a.migrate();
      const bindingId = `binding-${RUN}-multi`;
      const checkoutSessionId = `session-${RUN}-multi`;
      await a.createBinding({ bindingId, createdAt: T0, expiresAt: T0 + 600_000, checkoutSessionId: null });
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          (i % 2 ? a : b).claim({
            checkoutSessionId,
            bindingId,
            owner: `inst-${i % 2}:${i}`,
            leaseMs: LEASE,
            now: T0,
          }),
        ),
      );
      expect(results.filter((r) => r.kind === 'claimed')).toHaveLength(1);
      expect(results.filter((r) => r.kind === 'busy')).toHaveLength(39);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('reports pool errors through the injected logger and never throws them', async () => {
    const errors: string[] = [];
    // Its own application_name, so the test terminates only this store's connections.
    const appName = `store_test_${RUN}_errors`;
    const store = new PostgresCheckoutStore({
      connectionString: `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}application_name=${appName}`,
      schema,
      logger: { warn: () => {}, error: (_obj, msg) => errors.push(msg) },
    });
    try {
      await store.ping();
      const { rows } = await admin.query('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [
        appName,
      ]);
      expect(rows.length).toBeGreaterThan(0);
      await Promise.all(rows.map((r) => admin.query('SELECT pg_terminate_backend($1)', [r.pid])));
      await expect.poll(() => errors.length, { timeout: 5_000 }).toBeGreaterThan(0);
      await expect(store.ping()).resolves.toBeUndefined();
    } finally {
      await store.close();
    }
  });
});

describe('SQLite across connections and processes', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'store-test-xproc-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lets exactly one of two processes claim each record', async () => {
    const file = join(dir, 'shared.db');
    const setup = new SqliteCheckoutStore(file);
    await setup.migrate();
    const n = 150;
    for (let i = 0; i < n; i++) {
      await setup.createBinding({
        bindingId: `b${i}`,
        createdAt: T0,
        expiresAt: T0 + 600_000,
        checkoutSessionId: null,
      });
    }
    await setup.close();

    const moduleUrl = pathToFileURL(join(import.meta.dirname, '..', 'src', 'store', 'sqlite.ts')).href;
    const start = Date.now() + 500;
    const script = `
      const { SqliteCheckoutStore } = await import(${JSON.stringify(moduleUrl)});
      const store = new SqliteCheckoutStore(process.argv[1]);
      await store.migrate();
      while (Date.now() < ${start}) {}
      const won = [];
      for (let i = 0; i < ${n}; i++) {
        const r = await store.claim({ checkoutSessionId: 's' + i, bindingId: 'b' + i, owner: process.argv[2], leaseMs: 60000, now: ${T0} });
        if (r.kind === 'claimed') won.push(i);
        else if (r.kind !== 'busy') throw new Error('unexpected ' + r.kind);
      }
      await store.close();
      process.stdout.write(JSON.stringify(won));
    `;
    const run = (owner: string) =>
      promisify(execFile)(process.execPath, ['--input-type=module', '-e', script, file, owner], {
        timeout: 20_000,
      });
    const [a, b] = await Promise.all([run('proc-a'), run('proc-b')]);
    const wonA: number[] = JSON.parse(a.stdout);
    const wonB: number[] = JSON.parse(b.stdout);
    expect(wonA.length + wonB.length).toBe(n);
    expect(new Set([...wonA, ...wonB]).size).toBe(n);
  });

  it('serialises claims from two connections on one file', async () => {
    const file = join(dir, 'two-connections.db');
    const a = new SqliteCheckoutStore(file);
    const b = new SqliteCheckoutStore(file);
    try {
      await Promise.all([a.migrate(), b.migrate()]);
      await a.createBinding({
        bindingId: 'b',
        createdAt: T0,
        expiresAt: T0 + 600_000,
        checkoutSessionId: null,
      });
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (i % 2 ? a : b).claim({
            checkoutSessionId: 's',
            bindingId: 'b',
            owner: `c:${i}`,
            leaseMs: LEASE,
            now: T0,
          }),
        ),
      );
      expect(results.filter((r) => r.kind === 'claimed')).toHaveLength(1);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('accepts synchronous FULL and rejects other levels', async () => {
    const full = new SqliteCheckoutStore(join(dir, 'full.db'), { synchronous: 'FULL' });
    await full.migrate();
    await full.close();
    expect(() => new SqliteCheckoutStore(':memory:', { synchronous: 'OFF' as 'FULL' })).toThrow(
      /synchronous/,
    );
  });
});

describe('createStore', () => {
  it('chooses the backend from the URL', async () => {
    const memory = createStore('sqlite::memory:');
    expect(memory).toBeInstanceOf(SqliteCheckoutStore);
    await memory.migrate();
    await memory.ping();
    await memory.close();
    const dir = mkdtempSync(join(tmpdir(), 'store-test-url-'));
    try {
      const file = createStore(`sqlite:${join(dir, 'a', 'b.db')}`, { synchronous: 'FULL' });
      await file.migrate();
      await file.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const pgStore = createStore(PG_URL.replace('postgres://', 'postgresql://'), {
      poolMax: 2,
      schema: 'public',
    });
    expect(pgStore).toBeInstanceOf(PostgresCheckoutStore);
    await pgStore.ping();
    await pgStore.close();
    expect(() => createStore('mysql://user:secret@host/db')).toThrow(/^(?!.*secret)/);
    expect(() => createStore('sqlite:')).toThrow();
  });
});
