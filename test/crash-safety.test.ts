// Crash safety of the real process: `node src/server.ts` is SIGKILLed at each failpoint of a completion, restarted on
// the same SQLite file, and must reach Amazon's state through the reconciler with one Complete under one key.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../src/simulator/index.ts';
import { Browser, publicKey, TEST_KEY_ID } from './support/harness.ts';
import { freePort } from './support/processes.ts';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const KEY_FILE = fileURLToPath(new URL('./fixtures/amazon-test-key-private-pkcs1.pem', import.meta.url));
const RECONCILE_INTERVAL_MS = 500;
/** Test-build lease (CHECKOUT_LEASE_MS): an orphaned `pending` record is picked up this long after the claim. */
const LEASE_MS = 2_000;
/** Generous: lease + a few reconciler intervals + process start-up on a loaded machine. */
const SETTLE_WITHIN_MS = 20_000;
/** Two process start-ups per test; on a loaded two-core machine each can take several seconds. */
const START_WITHIN_MS = 30_000;
const TEST_TIMEOUT_MS = 120_000;

interface ServerProcess {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

function spawnServer(env: Record<string, string>): ServerProcess {
  // A clean environment, so nothing from the developer's shell (a DATABASE_URL, a real key) leaks in.
  const child = spawn(process.execPath, ['src/server.ts'], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer) => {
    if (output.length < 100_000) output += chunk.toString('utf8');
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, exited, output: () => output };
}

async function waitForLive(url: string, server: ServerProcess): Promise<void> {
  const deadline = Date.now() + START_WITHIN_MS;
  while (Date.now() < deadline) {
    if (server.child.exitCode !== null || server.child.signalCode !== null) {
      throw new Error(`server exited before it was live:\n${server.output()}`);
    }
    try {
      const res = await request(`${url}/health/live`, { headersTimeout: 1_000, bodyTimeout: 1_000 });
      await res.body.dump();
      if (res.statusCode === 200) return;
    } catch {
      // Not listening yet.
    }
    await sleep(100);
  }
  throw new Error(`server not live within ${START_WITHIN_MS} ms:\n${server.output()}`);
}

function storedState(dbFile: string, id: string): string | undefined {
  const db = new DatabaseSync(dbFile, { readOnly: true });
  try {
    const row = db.prepare('SELECT state FROM checkout_records WHERE checkout_session_id = ?').get(id) as
      | { state: string }
      | undefined;
    return row?.state;
  } finally {
    db.close();
  }
}

let sim: Simulator;
const running = new Set<ServerProcess>();
beforeAll(async () => {
  // The simulator lives in the test process: a killed server must not take Amazon's state down with it.
  sim = await startSimulator({ publicKeys: { [TEST_KEY_ID]: publicKey } });
});
afterAll(async () => {
  for (const server of running) server.child.kill('SIGKILL');
  await sim?.close();
});

const FAILPOINTS = [
  { point: 'after-claim', before: { state: 'pending', completeOutcomes: 0 } },
  { point: 'after-amazon', before: { state: 'pending', completeOutcomes: 1 } },
  { point: 'after-commit', before: { state: 'completed', completeOutcomes: 1 } },
] as const;

describe.each(FAILPOINTS)('SIGKILL at $point', ({ point, before }) => {
  it(
    'restart on the same file settles the record to Amazon state within the reconciler interval; one Complete, one key; the refresh shows the result',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'crash-test-'));
      const dbFile = join(dir, 'checkout.db');
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const env = {
        NODE_ENV: 'test',
        HOST: '127.0.0.1',
        PORT: String(port),
        DATABASE_URL: `sqlite:${dbFile}`,
        DATA_DIR: dir,
        COOKIE_SECRET: 'crash-test-cookie-secret-with-at-least-32-chars',
        LOG_LEVEL: 'warn',
        RATE_LIMIT_MAX: '0',
        RECONCILE_INTERVAL_MS: String(RECONCILE_INTERVAL_MS),
        CHECKOUT_LEASE_MS: String(LEASE_MS),
        AMAZON_PAY_SIMULATOR: 'false',
        AMAZON_PAY_PUBLIC_KEY_ID: TEST_KEY_ID,
        AMAZON_PAY_PRIVATE_KEY_FILE: KEY_FILE,
        AMAZON_PAY_API_BASE_URL: sim.url,
        AMAZON_PAY_MERCHANT_ID: 'TESTMERCHANT',
        AMAZON_PAY_STORE_ID: 'amzn1.application-oa2-client.test',
        AMAZON_PAY_TIMEOUT_MS: '1000',
        AMAZON_PAY_BUDGET_MS: '1500',
      };
      try {
        const first = spawnServer({ ...env, CHECKOUT_FAILPOINT: point });
        running.add(first);
        await waitForLive(url, first);
        const browser = new Browser(url);
        await browser.startCheckout();
        const { checkoutSessionId: id } = sim.createSession();

        // Invariant: the kill closes the buyer's connection; no answer (and no failure page) reaches the buyer.
        await expect(browser.returnFromAmazon(id)).rejects.toThrow();
        expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });
        running.delete(first);
        expect(storedState(dbFile, id)).toBe(before.state);
        expect(sim.stats(id).completeOutcomes).toBe(before.completeOutcomes);

        const second = spawnServer(env);
        running.add(second);
        await waitForLive(url, second);

        // Invariant: the record reaches Amazon's true final state without the buyer's help (the reconciler).
        const deadline = Date.now() + SETTLE_WITHIN_MS;
        while (storedState(dbFile, id) !== 'completed' && Date.now() < deadline) await sleep(100);
        expect(storedState(dbFile, id), second.output()).toBe('completed');
        const stats = sim.stats(id);
        expect(stats.state).toBe('Completed');
        // Invariant: exactly one Complete took effect, under one idempotency key, across the crash.
        expect(stats.completeOutcomes).toBe(1);
        expect(stats.idempotencyKeys).toHaveLength(1);

        // Invariant: the buyer's refresh (same cookie; COOKIE_SECRET is fixed) lands on the result page, and
        // makes no further Complete call.
        const completeCalls = stats.completeCalls;
        const refreshed = await browser.returnFromAmazon(id);
        expect(refreshed.status).toBe(303);
        expect(refreshed.location).toBe(`/checkout/amazon-pay/result/${id}`);
        const page = await browser.follow(refreshed);
        expect(page.status).toBe(200);
        expect(page.body).toContain('Susie Smith');
        expect(sim.stats(id).completeCalls).toBe(completeCalls);

        second.child.kill('SIGTERM');
        expect((await second.exited).code).toBe(0);
        running.delete(second);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    TEST_TIMEOUT_MS,
  );
});
