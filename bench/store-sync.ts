// Store-level micro-benchmark of SQLite `synchronous=FULL` vs `NORMAL` (WAL, on disk): the server cannot choose the
// level from the environment yet, so this measures what a return costs in the store. `node bench/store-sync.ts`.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteCheckoutStore } from '../src/store/sqlite.ts';
import type { Outcome } from '../src/store/store.ts';
import { percentile } from './stats.ts';

export interface SyncLevelResult {
  synchronous: 'FULL' | 'NORMAL';
  completions: number;
  completionsPerSecond: number;
  /** Synchronous time of one return's store work (binding, claim, finish): the event loop is blocked that long. */
  blockP50Ms: number;
  blockP99Ms: number;
  blockMaxMs: number;
}

const OUTCOME: Outcome = {
  state: 'completed',
  reasonCode: null,
  messageCode: null,
  buyer: {
    buyerId: 'amzn1.account.BENCHBUYER',
    name: 'Bench Buyer',
    email: 'buyer@example.com',
    phone: '+1 206 555 0100',
    billingAddress: {
      name: 'Bench Buyer',
      addressLine1: '410 Terry Ave N',
      city: 'Seattle',
      countryCode: 'US',
    },
    shippingAddress: {
      name: 'Bench Buyer',
      addressLine1: '410 Terry Ave N',
      city: 'Seattle',
      countryCode: 'US',
    },
  },
  chargePermissionId: 'B01-0000000-0000000',
  amazonCreatedAt: '20240101T000000Z',
  amazonUpdatedAt: '20240101T000001Z',
  nextAttemptAt: null,
};

async function measure(
  dir: string,
  synchronous: 'FULL' | 'NORMAL',
  seconds: number,
): Promise<SyncLevelResult> {
  const file = join(dir, `store-${synchronous.toLowerCase()}.db`);
  const store = new SqliteCheckoutStore(file, { synchronous });
  await store.migrate();
  const blocks: number[] = [];
  const started = performance.now();
  const end = started + seconds * 1000;
  while (performance.now() < end) {
    const t0 = performance.now();
    const now = Date.now();
    const bindingId = randomBytes(16).toString('base64url');
    const checkoutSessionId = randomUUID();
    // The three store calls of one return, as the service makes them (button-config, claim, finish).
    await store.createBinding({
      bindingId,
      createdAt: now,
      expiresAt: now + 7_200_000,
      checkoutSessionId: null,
    });
    await store.claim({ checkoutSessionId, bindingId, owner: 'bench', leaseMs: 60_000, now });
    await store.finish({ checkoutSessionId, owner: 'bench', outcome: OUTCOME, now });
    blocks.push(performance.now() - t0);
  }
  const elapsed = (performance.now() - started) / 1000;
  await store.close();
  const sorted = blocks.sort((a, b) => a - b);
  return {
    synchronous,
    completions: sorted.length,
    completionsPerSecond: sorted.length / elapsed,
    blockP50Ms: percentile(sorted, 50),
    blockP99Ms: percentile(sorted, 99),
    blockMaxMs: sorted.at(-1) ?? Number.NaN,
  };
}

export async function measureSyncLevels(dir: string, seconds = 2): Promise<SyncLevelResult[]> {
  mkdirSync(dir, { recursive: true });
  try {
    return [await measure(dir, 'NORMAL', seconds), await measure(dir, 'FULL', seconds)];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const dir = process.argv[2] ?? join(import.meta.dirname, 'results', `store-sync-${process.pid}`);
  const seconds = Number(process.argv[3] ?? 2);
  process.stdout.write(`${JSON.stringify(await measureSyncLevels(dir, seconds))}\n`);
}
