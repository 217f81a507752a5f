// Cross-instance proof: two real service processes share one PostgreSQL database, and completion stays exactly-once.
//
// Setup: a database created for this run (the service takes no schema from DATABASE_URL, so a throwaway
// database is the isolation unit), one simulator in this process, and per service process a small recording
// proxy between it and the simulator. The proxies timestamp every Amazon call and know which process made it,
// which is what lets the reconciler test prove "never two workers on one record at once" rather than infer it.
//
// How the tests were checked to fail without the cross-instance claim: in a scratch copy of the committed tree
// (never committed), with diagnostics printed, each variant run three to four times, failing every time:
// - claim() in src/store/postgres.ts taking the lease even while another worker's lease is live (the `busy`
//   line removed): the 40-returns test fails. Both processes drove the session: attempts reached 11 to 40,
//   the other process read the session back 1 to 3 times while the winner's Complete was still in flight
//   (overlapping calls). Its read-back came after Amazon had processed that Complete, so completeCalls and
//   completeOutcomes stayed 1: that is why the test asserts Get calls, attempts and overlaps, not outcomes.
// - claimDue() without its lease condition (`lease_expires_at IS NULL OR lease_expires_at <= now`): the
//   reconciler test fails with every record picked up twice (attempts 3), 2 Gets per session, a second
//   Complete call on about half of them, and 19 to 28 overlapping call pairs. The 40-returns test fails too:
//   the other process's reconciler took the still-leased `pending` record mid-drive.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { idempotencyKeyFor } from '../src/checkout/completion.ts';
import { type Simulator, startSimulator } from '../src/simulator/index.ts';
import { sendSigned } from '../src/simulator/test-support.ts';
import { PostgresCheckoutStore } from '../src/store/postgres.ts';
import type { Outcome } from '../src/store/store.ts';
import { Browser, privateKey, publicKey, TEST_KEY_ID } from './support/harness.ts';
import { freePort, type ServiceProcess, spawnService, waitForReady } from './support/processes.ts';

const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const DB_NAME = `checkout_mi_${randomBytes(5).toString('hex')}`;
/** Every simulator call takes this long, so work in the two processes overlaps in time. */
const LATENCY_MS = 250;
const COOKIE_SECRET = 'multi-instance-cookie-secret-shared-by-both-processes';

function databaseUrl(name: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

interface AmazonCall {
  process: string;
  operation: 'complete' | 'get';
  sessionId: string;
  /** performance.now() when the request reached the proxy and when the simulator's answer was complete. */
  start: number;
  end: number;
}

const API_PATH = /^(?:\/(?:sandbox|live))?\/v2\/checkoutSessions\/([^/?]+)(\/complete)?\/?(?:\?|$)/;
const HOP_BY_HOP = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'content-length']);

/**
 * A pass-through proxy in front of the simulator for one service process. Its interval for a call lies inside
 * the interval the service sees (it receives the request later and answers earlier), so calls that do not
 * overlap here did not overlap in the services either, and calls that overlap here overlapped at Amazon.
 */
async function startRecordingProxy(
  processName: string,
  target: string,
  calls: AmazonCall[],
): Promise<{ url: string; close(): Promise<void> }> {
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const start = performance.now();
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (!HOP_BY_HOP.has(name) && typeof value === 'string') headers[name] = value;
    }
    const upstream = await request(`${target}${req.url}`, {
      method: req.method as 'GET',
      headers,
      ...(body.length > 0 || req.method === 'POST' ? { body } : {}),
    });
    const answer = Buffer.from(await upstream.body.arrayBuffer());
    const match = API_PATH.exec(req.url ?? '');
    if (match) {
      calls.push({
        process: processName,
        operation: match[2] ? 'complete' : 'get',
        sessionId: decodeURIComponent(match[1]!),
        start,
        end: performance.now(),
      });
    }
    const out: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(upstream.headers)) {
      if (!HOP_BY_HOP.has(name) && value !== undefined) out[name] = value;
    }
    res.writeHead(upstream.statusCode, { ...out, 'content-length': String(answer.length) });
    res.end(answer);
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy: no TCP address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Pairs of calls for one session whose intervals intersect: two workers on one record at once. */
function overlappingCalls(calls: AmazonCall[], sessionId: string): string[] {
  const mine = calls.filter((c) => c.sessionId === sessionId).sort((x, y) => x.start - y.start);
  const overlaps: string[] = [];
  for (let i = 0; i < mine.length; i++) {
    for (let j = i + 1; j < mine.length; j++) {
      if (mine[j]!.start < mine[i]!.end) {
        overlaps.push(
          `${mine[i]!.process}:${mine[i]!.operation} overlaps ${mine[j]!.process}:${mine[j]!.operation}`,
        );
      }
    }
  }
  return overlaps;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('several instances on one PostgreSQL database', () => {
  const admin = new pg.Pool({ connectionString: ADMIN_URL, max: 1, connectionTimeoutMillis: 5_000 });
  admin.on('error', () => {});
  const calls: AmazonCall[] = [];
  const services: ServiceProcess[] = [];
  const cleanups: Array<() => Promise<unknown>> = [];
  let sim: Simulator;
  let db: pg.Pool;
  let seeder: PostgresCheckoutStore;
  let a: ServiceProcess;
  let b: ServiceProcess;

  beforeAll(async () => {
    await admin.query(`CREATE DATABASE ${DB_NAME}`);
    // Registered first so it runs last: every connection to the database is gone or forced out by then.
    cleanups.push(() => admin.query(`DROP DATABASE IF EXISTS ${DB_NAME} WITH (FORCE)`));
    const url = databaseUrl(DB_NAME);
    db = new pg.Pool({ connectionString: url, max: 2, connectionTimeoutMillis: 5_000 });
    // The forced DROP at the end terminates any connection still closing; that must not crash the run.
    db.on('error', () => {});
    cleanups.push(() => db.end());
    seeder = new PostgresCheckoutStore({ connectionString: url, max: 2 });
    cleanups.push(() => seeder.close());

    sim = await startSimulator({ publicKeys: { [TEST_KEY_ID]: publicKey }, latencyMs: LATENCY_MS });
    cleanups.push(() => sim.close());
    const dataDir = mkdtempSync(join(tmpdir(), 'checkout-mi-'));
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));

    const [portA, portB] = [await freePort(), await freePort()];
    const publicBaseUrl = `http://127.0.0.1:${portA}`;
    for (const [name, port] of [
      ['A', portA],
      ['B', portB],
    ] as const) {
      const proxy = await startRecordingProxy(name, sim.url, calls);
      cleanups.push(() => proxy.close());
      const service = spawnService(name, port, {
        NODE_ENV: 'test',
        DATABASE_URL: url,
        DATA_DIR: dataDir,
        AMAZON_PAY_SIMULATOR: 'false',
        AMAZON_PAY_PUBLIC_KEY_ID: TEST_KEY_ID,
        AMAZON_PAY_PRIVATE_KEY_FILE: 'test/fixtures/amazon-test-key-private-pkcs1.pem',
        AMAZON_PAY_API_BASE_URL: proxy.url,
        AMAZON_PAY_MERCHANT_ID: 'TESTMERCHANT',
        AMAZON_PAY_STORE_ID: 'amzn1.application-oa2-client.test',
        // Generous: a timed-out call would add a read-back, and a loaded machine must not fail the call counts.
        AMAZON_PAY_TIMEOUT_MS: '15000',
        AMAZON_PAY_BUDGET_MS: '30000',
        COOKIE_SECRET,
        PUBLIC_BASE_URL: publicBaseUrl,
        RATE_LIMIT_MAX: '0',
        RETURN_WAIT_MS: '10000',
        RECONCILE_INTERVAL_MS: '200',
        SHUTDOWN_DRAIN_MS: '5000',
        LOG_LEVEL: 'warn',
      });
      services.push(service);
      cleanups.push(() => service.stop());
    }
    [a, b] = services as [ServiceProcess, ServiceProcess];
    // Started together on an empty database: both run the migrations at once, under the advisory lock.
    await Promise.all(services.map((s) => waitForReady(s)));
    await seeder.migrate();
  }, 60_000);

  afterAll(async () => {
    // Every step runs even when an earlier one fails, newest first, so the database is always dropped.
    const errors: unknown[] = [];
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (err) {
        errors.push(err);
      }
    }
    await admin.end().catch((err: unknown) => errors.push(err));
    if (errors.length > 0) throw errors[0];
  }, 60_000);

  function showProcessOutputOnFailure(): void {
    onTestFailed(() => {
      for (const s of services) console.error(`--- service ${s.name} output ---\n${s.output()}`);
    });
  }

  it('both processes migrated the shared database together: each migration applied once', async () => {
    const { rows } = await db.query<{ version: number; n: string }>(
      'SELECT version, count(*) AS n FROM schema_migrations GROUP BY version ORDER BY version',
    );
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(Number(row.n)).toBe(1);
  });

  it('40 concurrent returns for one session split across both processes: one Complete call and one claim, 303s everywhere, buyer shown on both', async () => {
    showProcessOutputOnFailure();
    const browserA = new Browser(a.url);
    await browserA.startCheckout();
    // The same browser reaching the other instance (a load balancer without stickiness): same cookie.
    const browserB = new Browser(b.url);
    for (const [name, value] of browserA.cookies) browserB.cookies.set(name, value);
    const { checkoutSessionId: id } = sim.createSession({ buyer: 'no-phone' });

    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? browserA : browserB).returnFromAmazon(id)),
    );
    for (const res of responses) {
      expect(res.status).toBe(303);
      expect(res.location).toBe(`/checkout/amazon-pay/result/${id}`);
    }

    const stats = sim.stats(id);
    expect(stats.completeOutcomes).toBe(1);
    // Calls, not just outcomes: a second Complete with the same key is replayed by Amazon and would not
    // change completeOutcomes. The request path completes first and needs no read-back on a clear answer.
    expect(stats.completeCalls).toBe(1);
    expect(stats.getCalls).toBe(0);
    expect(stats.idempotencyKeys).toEqual([idempotencyKeyFor(id)]);
    expect(calls.filter((c) => c.sessionId === id)).toHaveLength(1);

    const { rows } = await db.query<{ state: string; attempts: number; lease_owner: string | null }>(
      'SELECT state, attempts, lease_owner FROM checkout_records WHERE checkout_session_id = $1',
      [id],
    );
    // attempts counts successful claims: 1 means no other worker ever took the lease.
    expect(rows).toEqual([{ state: 'completed', attempts: 1, lease_owner: null }]);

    // Every response above came after the commit or said "confirming"; once all are in, both show the buyer.
    for (const browser of [browserA, browserB]) {
      const page = await browser.fetch(`/checkout/amazon-pay/result/${id}`);
      expect(page.status).toBe(200);
      expect(page.body).toContain('id="buyer-name">Pat Nophone<');
    }
  });

  it('the reconcilers of both processes share due records but never work one at the same time: one Get per session, no overlapping calls, one pick-up each', async () => {
    showProcessOutputOnFailure();
    const unknown = (now: number): Outcome => ({
      state: 'unknown',
      reasonCode: null,
      messageCode: null,
      buyer: null,
      chargePermissionId: null,
      amazonCreatedAt: null,
      amazonUpdatedAt: null,
      nextAttemptAt: now,
    });
    // Waves, so that while one process works through its batch (sequentially, ~2 calls × LATENCY_MS per record)
    // the next wave becomes due and the other process's loop, polling every 200 ms, finds it: both get work,
    // and the busy one's still-leased records are exactly what the idle one must leave alone.
    const ids: string[] = [];
    const alreadyCompleted = new Set<string>();
    for (let wave = 0; wave < 4; wave++) {
      const batch = Array.from(
        { length: 3 },
        () => sim.createSession({ buyer: 'no-phone' }).checkoutSessionId,
      );
      await Promise.all(
        batch.map(async (id, i) => {
          if (i === 0) {
            // The request path's Complete reached Amazon but its answer was lost: the reconciler must read
            // it back and not complete again.
            const res = await sendSigned(sim.url, {
              method: 'POST',
              path: `/v2/checkoutSessions/${id}/complete`,
              body: '{}',
              privateKey,
              publicKeyId: TEST_KEY_ID,
              headers: { 'x-amz-pay-idempotency-key': idempotencyKeyFor(id) },
            });
            expect(res.status).toBe(200);
            alreadyCompleted.add(id);
          }
          const now = Date.now();
          const bindingId = randomBytes(16).toString('base64url');
          await seeder.createBinding({
            bindingId,
            createdAt: now,
            expiresAt: now + 3_600_000,
            checkoutSessionId: null,
          });
          const claim = await seeder.claim({
            checkoutSessionId: id,
            bindingId,
            owner: 'seed',
            leaseMs: 60_000,
            now,
          });
          expect(claim.kind).toBe('claimed');
          const stored = await seeder.finish({
            checkoutSessionId: id,
            owner: 'seed',
            outcome: unknown(now),
            now,
          });
          expect(stored?.state).toBe('unknown');
        }),
      );
      ids.push(...batch);
      await sleep(LATENCY_MS);
    }

    const deadline = Date.now() + 30_000;
    let open = ids.length;
    while (open > 0 && Date.now() < deadline) {
      await sleep(100);
      const { rows } = await db.query<{ n: string }>(
        "SELECT count(*) AS n FROM checkout_records WHERE checkout_session_id = ANY($1) AND state <> 'completed'",
        [ids],
      );
      open = Number(rows[0]!.n);
    }
    expect(open).toBe(0);

    const { rows } = await db.query<{ checkout_session_id: string; state: string; attempts: number }>(
      'SELECT checkout_session_id, state, attempts FROM checkout_records WHERE checkout_session_id = ANY($1)',
      [ids],
    );
    expect(rows).toHaveLength(ids.length);
    for (const row of rows) {
      // 1 from the seeding claim plus exactly one reconciler pick-up.
      expect({ id: row.checkout_session_id, attempts: row.attempts }).toEqual({
        id: row.checkout_session_id,
        attempts: 2,
      });
    }

    for (const id of ids) {
      const stats = sim.stats(id);
      const mine = calls.filter((c) => c.sessionId === id);
      expect({ id, completeOutcomes: stats.completeOutcomes, getCalls: stats.getCalls }).toEqual({
        id,
        completeOutcomes: 1,
        getCalls: 1,
      });
      // Open sessions: Get, then Complete by the same worker. Completed ones: Get only (the Complete was ours).
      expect({ id, completeCalls: stats.completeCalls }).toEqual({ id, completeCalls: 1 });
      expect(mine.map((c) => c.operation)).toEqual(alreadyCompleted.has(id) ? ['get'] : ['get', 'complete']);
      expect(new Set(mine.map((c) => c.process)).size).toBe(1);
      expect(overlappingCalls(calls, id)).toEqual([]);
    }
    // Otherwise the test would prove nothing about two instances.
    const workers = new Set(calls.filter((c) => ids.includes(c.sessionId)).map((c) => c.process));
    expect([...workers].sort()).toEqual(['A', 'B']);
  }, 60_000);
});
