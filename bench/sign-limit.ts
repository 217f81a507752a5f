// The machine's raw signing limit: RSA-2048 PSS (SHA-256, salt 32) signatures per second with a KeyObject parsed
// once, on all cores (async crypto.sign runs on libuv's pool). `node bench/sign-limit.ts [seconds]` prints JSON.

import { constants, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { availableParallelism } from 'node:os';

export interface SignLimit {
  /** Async crypto.sign on libuv's pool, enough in flight to keep every thread busy. */
  asyncPerSecond: number;
  /** Synchronous crypto.sign on one thread, for reference (one core). */
  syncOneCorePerSecond: number;
  threadpoolSize: number;
  seconds: number;
}

const data = Buffer.from(`AMZN-PAY-RSASSA-PSS-V2\n${'0'.repeat(64)}`);

function options(key: KeyObject) {
  return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };
}

function signAsync(key: KeyObject): Promise<void> {
  return new Promise((resolve, reject) =>
    sign('sha256', data, options(key), (err) => (err ? reject(err) : resolve())),
  );
}

async function asyncRate(key: KeyObject, seconds: number, inFlight: number): Promise<number> {
  let count = 0;
  let measuring = false;
  const warmupEnd = performance.now() + 300;
  let end = Number.POSITIVE_INFINITY;
  let started = 0;
  const worker = async () => {
    for (;;) {
      const now = performance.now();
      if (!measuring && now >= warmupEnd) {
        measuring = true;
        started = now;
        end = now + seconds * 1000;
      }
      if (now >= end) return;
      await signAsync(key);
      if (measuring) count += 1;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return count / ((performance.now() - started) / 1000);
}

function syncRate(key: KeyObject, seconds: number): number {
  const started = performance.now();
  const end = started + seconds * 1000;
  let count = 0;
  while (performance.now() < end) {
    sign('sha256', data, options(key));
    count += 1;
  }
  return count / ((performance.now() - started) / 1000);
}

export async function measureSignLimit(seconds = 3): Promise<SignLimit> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const threadpoolSize = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  // Twice the pool size in flight: a thread never waits for the event loop to hand it the next signature.
  const asyncPerSecond = await asyncRate(
    privateKey,
    seconds,
    Math.max(threadpoolSize, availableParallelism()) * 2,
  );
  const syncOneCorePerSecond = syncRate(privateKey, Math.min(1, seconds));
  return { asyncPerSecond, syncOneCorePerSecond, threadpoolSize, seconds };
}

if (import.meta.main) {
  const seconds = Number(process.argv[2] ?? 3);
  process.stdout.write(`${JSON.stringify(await measureSignLimit(seconds))}\n`);
}
