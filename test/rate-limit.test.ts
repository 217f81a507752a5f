// Rate limits on the return route and the JSON routes: per client, shared across instances through Redis (the
// machine's Redis, a unique key prefix per run), per process without it, never a 5xx when Redis is away.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { type Harness, type HttpResult, startHarness } from './support/harness.ts';

const REDIS = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const SESSION = '/api/amazon-pay/checkout-sessions/00000000-0000-4000-8000-000000000000';
const RETURN = '/checkout/amazon-pay/return?amazonCheckoutSessionId=00000000-0000-4000-8000-000000000000';
const OPEN_ROUTES = [
  '/checkout',
  '/health/live',
  '/health/ready',
  '/assets/checkout.css',
  '/docs',
  '/metrics',
];

const prefix = `test-rate-limit-${randomBytes(6).toString('hex')}:`;
const admin = new Redis(REDIS, { lazyConnect: true, maxRetriesPerRequest: 1 });
const harnesses: Harness[] = [];

async function start(overrides: Parameters<typeof startHarness>[0]): Promise<Harness> {
  const h = await startHarness(overrides);
  harnesses.push(h);
  return h;
}

afterAll(async () => {
  await Promise.all(harnesses.map((h) => h.close()));
  if (admin.status !== 'wait') {
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
    await admin.quit();
  }
});

function expectLimitedJson(res: HttpResult): void {
  expect(res.status).toBe(429);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(JSON.parse(res.body)).toEqual({
    error: { code: 'rate-limited', message: expect.any(String) },
  });
  const retryAfter = Number(res.headers['retry-after']);
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(60);
}

describe('shared through Redis', () => {
  it('the limit holds across two instances sharing one Redis', async () => {
    await admin.connect();
    const redisUrl = `${REDIS}/?keyPrefix=${encodeURIComponent(prefix)}&connectionName=${prefix.slice(0, -1)}`;
    const a = await start({ rateLimitMax: 4, redisUrl });
    const b = await start({ rateLimitMax: 4, redisUrl });

    // Four requests in all (two per instance) use the client's whole budget…
    for (const h of [a, b, a, b]) {
      expect((await h.browser().fetch(SESSION)).status).toBe(403);
    }
    // …so the fifth is refused by whichever instance gets it: JSON on /api, the error page on the return route.
    expectLimitedJson(await a.browser().fetch(SESSION));
    const page = await b.browser().returnFromAmazon('00000000-0000-4000-8000-000000000000');
    expect(page.status).toBe(429);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain('Too many requests');
    expect(Number(page.headers['retry-after'])).toBeGreaterThan(0);

    // The counter lives in Redis under the run's prefix.
    const keys = await admin.keys(`${prefix}*`);
    expect(keys.length).toBe(1);
    expect(keys[0]).toBe(`${prefix}checkout-rate-limit:127.0.0.1`);

    // Pages, assets, health, metrics and docs stay open to the same client.
    for (const path of OPEN_ROUTES) {
      expect((await a.browser().fetch(path)).status, path).toBe(200);
      expect((await b.browser().fetch(path)).status, path).toBe(200);
    }

    // Each instance holds one connection, closed with the app.
    const clientList = async () =>
      String(await admin.call('CLIENT', 'LIST'))
        .split('\n')
        .filter((line) => line.includes(`name=${prefix.slice(0, -1)}`));
    expect(await clientList()).toHaveLength(2);
    await a.close();
    harnesses.splice(harnesses.indexOf(a), 1);
    await expect.poll(clientList).toHaveLength(1);
  });

  it('Redis away: nothing is limited, nothing fails, nothing waits', async () => {
    // A port where nothing listens: the client never connects.
    const h = await start({ rateLimitMax: 2, redisUrl: 'redis://127.0.0.1:1' });
    const started = Date.now();
    for (let i = 0; i < 6; i += 1) {
      const res = await h.browser().fetch(SESSION);
      expect(res.status).toBe(403);
    }
    const button = await h.browser().fetch('/api/amazon-pay/button-config', { method: 'POST', body: '{}' });
    expect(button.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(h.logs.some((line) => line.includes('rate-limit Redis unreachable'))).toBe(true);
    // The warning never carries the URL (it may hold a password).
    expect(h.logs.join('\n')).not.toContain('redis://');
  });
});

describe('without Redis', () => {
  it('counts per process: each instance allows the full budget', async () => {
    const a = await start({ rateLimitMax: 3 });
    const b = await start({ rateLimitMax: 3 });
    for (let i = 0; i < 3; i += 1) expect((await a.browser().fetch(SESSION)).status).toBe(403);
    expectLimitedJson(await a.browser().fetch(SESSION));
    for (let i = 0; i < 3; i += 1) expect((await b.browser().fetch(SESSION)).status).toBe(403);
    expectLimitedJson(await b.browser().fetch(SESSION));
  });

  it('one budget per client across the return and JSON routes; POSTs count too; never a 5xx', async () => {
    const h = await start({ rateLimitMax: 5 });
    const browser = h.browser();
    await browser.startCheckout();
    const seen: number[] = [];
    for (let i = 0; i < 4; i += 1) seen.push((await browser.fetch(i % 2 === 0 ? SESSION : RETURN)).status);
    seen.push((await browser.fetch('/api/amazon-pay/button-config', { method: 'POST', body: '{}' })).status);
    seen.push((await browser.fetch(RETURN)).status);
    expect(seen.slice(0, 4).every((status) => status < 400 || status === 404)).toBe(true);
    expect(seen.slice(4)).toEqual([429, 429]);
    expect(seen.every((status) => status < 500)).toBe(true);
  });

  it('RATE_LIMIT_MAX=0 turns limiting off', async () => {
    const h = await start({ rateLimitMax: 0 });
    for (let i = 0; i < 30; i += 1) expect((await h.browser().fetch(SESSION)).status).toBe(403);
    expect((await h.browser().fetch(SESSION)).headers['x-ratelimit-limit']).toBeUndefined();
  });
});

describe('client identity', () => {
  it('X-Forwarded-For counts only through a trusted proxy', async () => {
    const untrusted = await start({ rateLimitMax: 2 });
    // Spoofed addresses from an untrusted peer do not buy a fresh budget.
    for (let i = 0; i < 2; i += 1) {
      const res = await untrusted.browser().fetch(SESSION, { headers: { 'x-forwarded-for': randomIp() } });
      expect(res.status).toBe(403);
    }
    expectLimitedJson(
      await untrusted.browser().fetch(SESSION, { headers: { 'x-forwarded-for': randomIp() } }),
    );

    const trusted = await start({ rateLimitMax: 2, trustProxy: ['127.0.0.1'] });
    const first = randomIp();
    for (let i = 0; i < 2; i += 1) {
      expect((await trusted.browser().fetch(SESSION, { headers: { 'x-forwarded-for': first } })).status).toBe(
        403,
      );
    }
    expectLimitedJson(await trusted.browser().fetch(SESSION, { headers: { 'x-forwarded-for': first } }));
    // Behind the proxy, another client has its own budget.
    const other = await trusted.browser().fetch(SESSION, { headers: { 'x-forwarded-for': randomIp() } });
    expect(other.status).toBe(403);
  });
});

let lastClient = 0;
/** A fresh client address from a documentation range (RFC 5737). */
function randomIp(): string {
  lastClient += 1;
  return `203.0.113.${lastClient}`;
}
