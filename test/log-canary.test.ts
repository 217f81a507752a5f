// Canary test: buyer data, raw checkout session ids, cookies, Authorization and key material never reach a log
// line or a metric, on success, failure, ambiguous and crash-recovery paths, through the production logger.
import { randomBytes, randomInt } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { hashSessionId } from '../src/checkout/completion.ts';
import { createLogger } from '../src/logger.ts';
import type { BuyerData, SimAddress } from '../src/simulator/index.ts';
import { type Harness, startHarness } from './support/harness.ts';

const tag = randomBytes(6).toString('hex');
/** Every value the service must never log: buyer fields, ids, cookies, tokens. */
const canaries: string[] = [];

function canary(kind: string, n: number): string {
  const value = `CANARY-${kind}-${tag}-${n}`;
  canaries.push(value);
  return value;
}

function canaryAddress(kind: string, n: number): SimAddress {
  const phone = `+1 555 ${randomInt(100, 999)} ${randomInt(1000, 9999)}`;
  canaries.push(phone);
  return {
    name: canary(`${kind}-NAME`, n),
    addressLine1: canary(`${kind}-LINE1`, n),
    addressLine2: canary(`${kind}-LINE2`, n),
    addressLine3: canary(`${kind}-LINE3`, n),
    city: canary(`${kind}-CITY`, n),
    county: canary(`${kind}-COUNTY`, n),
    district: canary(`${kind}-DISTRICT`, n),
    stateOrRegion: canary(`${kind}-STATE`, n),
    postalCode: canary(`${kind}-ZIP`, n),
    countryCode: 'US',
    phoneNumber: phone,
  };
}

let buyers = 0;
function canaryBuyer(): BuyerData {
  buyers += 1;
  const n = buyers;
  const email = `canary.${tag}.${n}@example.invalid`;
  const phone = `+1 555 ${randomInt(100, 999)} ${randomInt(1000, 9999)}`;
  canaries.push(email, phone);
  return {
    buyerId: canary('BUYERID', n),
    name: canary('NAME', n),
    email,
    phoneNumber: phone,
    primeMembershipTypes: null,
    billingAddress: canaryAddress('BILLING', n),
    shippingAddress: canaryAddress('SHIPPING', n),
  };
}

const logs: string[] = [];
const sessionIds: string[] = [];
const cookieValues: string[] = [];
let h: Harness;
let clockOffset = 0;
let crashAfterAmazon = false;

beforeAll(async () => {
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      for (const line of String(chunk).split('\n')) if (line) logs.push(line);
      callback();
    },
  });
  h = await startHarness(
    {
      // The production logger (serializers, redaction) at its most talkative level.
      logger: createLogger('trace', stream),
      now: () => Date.now() + clockOffset,
      failpoint: (point) => {
        if (point === 'after-amazon' && crashAfterAmazon) {
          crashAfterAmazon = false;
          // The worker dies after Amazon completed the session and before anything was committed.
          throw new Error('simulated worker crash');
        }
      },
    },
    { amazonPay: { attemptTimeoutMs: 800, budgetMs: 2_500 } },
  );
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => {
  h.sim.clearFaults();
});

/** A browser that also carries an unrelated canary cookie and a canary Authorization header. */
async function checkout(outcome?: 'Declined') {
  const browser = h.browser();
  browser.cookies.set('merchant_tracking', canary('COOKIE', buyers));
  await browser.startCheckout();
  for (const value of browser.cookies.values()) cookieValues.push(value);
  const { checkoutSessionId } = h.sim.createSession({
    buyer: canaryBuyer(),
    ...(outcome ? { outcome } : {}),
  });
  sessionIds.push(checkoutSessionId);
  const headers = { authorization: `Bearer ${canary('AUTH', buyers)}` };
  return { browser, checkoutSessionId, headers };
}

async function settleLater(checkoutSessionId: string) {
  if ((await h.service.store.get(checkoutSessionId))?.state === 'completed') return;
  clockOffset += 3_600_000;
  await h.service.reconciler.runOnce();
}

describe('log canary', () => {
  it('success: return, result page, JSON status and complete routes', async () => {
    const { browser, checkoutSessionId, headers } = await checkout();
    const requestId = `canary-request-${tag}`;
    const ret = await browser.fetch(
      `/checkout/amazon-pay/return?amazonCheckoutSessionId=${checkoutSessionId}`,
      {
        headers: { ...headers, 'x-request-id': requestId },
      },
    );
    expect(ret.status).toBe(303);
    // A valid incoming request id is kept and echoed.
    expect(ret.headers['x-request-id']).toBe(requestId);
    const page = await browser.fetch(ret.location!, { headers });
    expect(page.body).toContain(`CANARY-NAME-${tag}`);
    const json = await browser.fetch(`/api/amazon-pay/checkout-sessions/${checkoutSessionId}`, { headers });
    expect(json.body).toContain(`CANARY-NAME-${tag}`);
    const again = await browser.fetch(`/api/amazon-pay/checkout-sessions/${checkoutSessionId}/complete`, {
      method: 'POST',
      body: '{}',
      headers,
    });
    expect(again.status).toBe(200);

    const access = logs.map((line) => JSON.parse(line)).filter((entry) => entry.reqId === requestId);
    expect(access.length).toBeGreaterThanOrEqual(1);
    expect(access.find((entry) => entry.msg === 'request completed')).toMatchObject({
      route: '/checkout/amazon-pay/return',
      status: 303,
      session: hashSessionId(checkoutSessionId),
    });
  });

  it('an invalid x-request-id is replaced, not logged', async () => {
    const bad = `${canary('BADREQID', buyers)} <script>`;
    const res = await h.browser().fetch('/checkout', { headers: { 'x-request-id': bad } });
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('failure: Declined', async () => {
    const { browser, checkoutSessionId, headers } = await checkout('Declined');
    const ret = await browser.fetch(
      `/checkout/amazon-pay/return?amazonCheckoutSessionId=${checkoutSessionId}`,
      {
        headers,
      },
    );
    expect(ret.location).toMatch(/error=declined/);
  });

  const ambiguous = [
    ['reset after processing', { kind: 'reset', operation: 'complete', processFirst: true }],
    [
      '503 burst after processing',
      { kind: 'status', status: 503, operation: 'complete', processFirst: true, times: 10 },
    ],
    ['hang', { kind: 'hang', operation: 'complete' }],
  ] as const;
  for (const [name, fault] of ambiguous) {
    it(`ambiguous: ${name}`, async () => {
      const { browser, checkoutSessionId, headers } = await checkout();
      h.sim.injectFault({ ...fault, checkoutSessionId });
      const ret = await browser.fetch(
        `/checkout/amazon-pay/return?amazonCheckoutSessionId=${checkoutSessionId}`,
        {
          headers,
        },
      );
      expect(ret.status).toBe(303);
      await settleLater(checkoutSessionId);
      expect((await h.service.store.get(checkoutSessionId))?.state).toBe('completed');
      await browser.fetch(ret.location!, { headers });
    });
  }

  it('crash recovery: a worker that claimed and died, settled by the reconciler', async () => {
    const { browser, checkoutSessionId, headers } = await checkout();
    crashAfterAmazon = true;
    const ret = await browser.fetch(
      `/checkout/amazon-pay/return?amazonCheckoutSessionId=${checkoutSessionId}`,
      {
        headers,
      },
    );
    expect(ret.status).toBe(303);
    expect((await h.service.store.get(checkoutSessionId))?.state).toBe('pending');
    // Past the dead worker's lease: the reconciler takes the record over and reads Amazon's state back.
    clockOffset += 10 * 60_000;
    await h.service.reconciler.runOnce();
    expect((await h.service.store.get(checkoutSessionId))?.state).toBe('completed');
    const page = await browser.fetch(ret.location!, { headers });
    expect(page.body).toContain(`CANARY-NAME-${tag}`);
  });

  it('no canary, raw session id, cookie value or key material in any log line or metric', async () => {
    const metrics = await h.browser().fetch('/metrics');
    expect(metrics.status).toBe(200);
    // The capture works: every path above logged, and more than a handful of lines.
    expect(logs.length).toBeGreaterThan(25);
    expect(sessionIds).toHaveLength(buyers);
    const forbidden = [...canaries, ...sessionIds, ...cookieValues, '-----BEGIN', 'amazonCheckoutSessionId='];
    for (const value of cookieValues) expect(value.length).toBeGreaterThan(8);
    for (const [where, text] of [
      ['logs', logs.join('\n')],
      ['metrics', metrics.body],
    ] as const) {
      const leaked = forbidden.filter((value) => text.includes(value));
      expect(leaked, `${where} leak`).toEqual([]);
      // Case-folded too: a serializer that changed the case would still leak.
      const lower = text.toLowerCase();
      expect(
        forbidden.filter((value) => lower.includes(value.toLowerCase())),
        `${where} leak`,
      ).toEqual([]);
    }
  });

  it('completion lines carry the Amazon request id and the session hash', () => {
    const entries = logs.map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const id of sessionIds) {
      const session = hashSessionId(id);
      const answered = entries.filter(
        (entry) => entry.msg === 'Amazon Pay answered' && entry.session === session,
      );
      expect(answered.length, `Amazon answer logged for ${session}`).toBeGreaterThanOrEqual(1);
      for (const entry of answered) expect(entry.amazonRequestId).toEqual(expect.stringMatching(/\S{8,}/));
      const committed = entries.filter(
        (entry) => entry.msg === 'checkout session outcome committed' && entry.session === session,
      );
      expect(committed.length, `outcome committed for ${session}`).toBeGreaterThanOrEqual(1);
      // The one info line per completion names the Amazon request behind the outcome.
      expect(committed.some((entry) => typeof entry.amazonRequestId === 'string')).toBe(true);
    }
    // Every line written inside a request names it.
    for (const entry of entries.filter((e) => e.msg === 'request completed')) {
      expect(entry.reqId).toEqual(expect.any(String));
      expect(entry.route).toEqual(expect.any(String));
    }
  });
});
