// The checkout flow end to end over real HTTP: service on SQLite on disk, simulator on its own port.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe('happy path', () => {
  it('button-config → return → 303 → result page with the source document buyer', async () => {
    const browser = h.browser();
    const config = await browser.startCheckout();
    const payload = JSON.parse(config.payloadJSON);
    expect(payload.chargePermissionType).toBe('PaymentMethodOnFile');
    expect(payload.webCheckoutDetails.signInReturnUrl).toBe(
      'http://localhost:3000/checkout/amazon-pay/return',
    );

    const { checkoutSessionId } = h.sim.createSession({ buyer: 'source-document' });
    const ret = await browser.returnFromAmazon(checkoutSessionId);
    expect(ret.status).toBe(303);
    expect(ret.location).toBe(`/checkout/amazon-pay/result/${checkoutSessionId}`);

    const page = await browser.fetch(ret.location!);
    expect(page.status).toBe(200);
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.body).toContain('Susie Smith');
    expect(page.body).toContain('10 Ditka Ave');
    expect(page.body).toContain('Chicago');
    expect(page.body).toContain('Seattle');
    expect(page.body).toContain('440 Terry Ave');
    expect(page.body).toContain('name-1');
    expect(page.body).toContain('name@amazon.com');
    expect(h.sim.stats(checkoutSessionId).completeOutcomes).toBe(1);

    const record = await h.service.store.get(checkoutSessionId);
    expect(record?.state).toBe('completed');
    expect(record?.chargePermissionId).toMatch(/^B01-/);
  });

  it('a refresh of the return URL and of the result page makes zero further Complete calls', async () => {
    const browser = h.browser();
    await browser.startCheckout();
    const { checkoutSessionId } = h.sim.createSession();
    const first = await browser.returnFromAmazon(checkoutSessionId);
    const firstPage = await browser.fetch(first.location!);
    const callsAfterFirst = h.sim.stats(checkoutSessionId).completeCalls;
    expect(callsAfterFirst).toBe(1);

    for (let i = 0; i < 3; i += 1) {
      const again = await browser.returnFromAmazon(checkoutSessionId);
      expect(again.status).toBe(303);
      expect(again.location).toBe(first.location);
      const page = await browser.fetch(again.location!);
      expect(page.body).toBe(firstPage.body);
    }
    expect(h.sim.stats(checkoutSessionId).completeCalls).toBe(callsAfterFirst);
  });

  it('a restart of the process on the same SQLite file keeps the outcome and calls nothing', async () => {
    const browser = h.browser();
    await browser.startCheckout();
    const { checkoutSessionId } = h.sim.createSession();
    const first = await browser.returnFromAmazon(checkoutSessionId);
    const before = (await browser.fetch(first.location!)).body;
    await h.restart();
    const again = await browser.returnFromAmazon(checkoutSessionId);
    expect(again.location).toBe(first.location);
    expect((await browser.fetch(again.location!)).body).toBe(before);
    expect(h.sim.stats(checkoutSessionId).completeCalls).toBe(1);
    expect(h.sim.stats(checkoutSessionId).getCalls).toBe(0);
  });

  it('30 concurrent returns for one id: one Complete outcome, one record, every response on the result', async () => {
    const browser = h.browser();
    await browser.startCheckout();
    const { checkoutSessionId } = h.sim.createSession();
    const results = await Promise.all(
      Array.from({ length: 30 }, () => browser.returnFromAmazon(checkoutSessionId)),
    );
    for (const r of results) {
      expect(r.status).toBe(303);
      expect(r.location).toBe(`/checkout/amazon-pay/result/${checkoutSessionId}`);
    }
    const stats = h.sim.stats(checkoutSessionId);
    expect(stats.completeOutcomes).toBe(1);
    expect(stats.completeCalls).toBe(1);
    expect(stats.idempotencyKeys).toHaveLength(1);
    const record = await h.service.store.get(checkoutSessionId);
    expect(record?.state).toBe('completed');
  });

  it('the JSON routes return the same outcome', async () => {
    const browser = h.browser();
    await browser.startCheckout();
    const { checkoutSessionId } = h.sim.createSession();
    const completed = await browser.fetch(`/api/amazon-pay/checkout-sessions/${checkoutSessionId}/complete`, {
      method: 'POST',
      body: '{}',
    });
    expect(completed.status).toBe(200);
    const body = JSON.parse(completed.body);
    expect(body.state).toBe('completed');
    expect(body.buyer.shippingAddress.name).toBe('Susie Smith');
    expect(body.buyer.billingAddress.city).toBe('Seattle');
    expect(completed.headers['x-request-id']).toBeTruthy();

    const status = await browser.fetch(`/api/amazon-pay/checkout-sessions/${checkoutSessionId}`);
    expect(status.status).toBe(200);
    expect(JSON.parse(status.body)).toEqual(body);
    // The browser route after the JSON route: same record, no new call.
    const ret = await browser.returnFromAmazon(checkoutSessionId);
    expect(ret.location).toBe(`/checkout/amazon-pay/result/${checkoutSessionId}`);
    expect(h.sim.stats(checkoutSessionId).completeCalls).toBe(1);
  });
});

describe('failures', () => {
  const cases = [
    ['BuyerCanceled', 'buyer-canceled'],
    ['Declined', 'declined'],
    ['AmazonCanceled', 'amazon-canceled'],
    ['AmazonRejected', 'amazon-rejected'],
    ['ProcessingFailure', 'processing-failure'],
  ] as const;
  for (const [outcome, code] of cases) {
    it(`${outcome} → 303 to the start page with ${code}, message shown, no buyer data`, async () => {
      const browser = h.browser();
      await browser.startCheckout();
      const { checkoutSessionId } = h.sim.createSession({ outcome });
      const ret = await browser.returnFromAmazon(checkoutSessionId);
      expect(ret.status).toBe(303);
      expect(ret.location).toBe(`/checkout?error=${code}`);
      const start = await browser.fetch(ret.location!);
      expect(start.status).toBe(200);
      expect(start.body).toContain(`data-code="${code}"`);
      expect(start.body).not.toContain('Susie Smith');
      expect(start.body).not.toContain('name@amazon.com');
      const record = await h.service.store.get(checkoutSessionId);
      expect(record?.state).toBe('failed');
      expect(record?.reasonCode).toBe(outcome);
      expect(record?.buyer).toBeNull();
      // Refresh: same outcome, no new Complete call.
      const again = await browser.returnFromAmazon(checkoutSessionId);
      expect(again.location).toBe(ret.location);
      expect(h.sim.stats(checkoutSessionId).completeCalls).toBe(1);

      const json = await browser.fetch(`/api/amazon-pay/checkout-sessions/${checkoutSessionId}`);
      expect(JSON.parse(json.body)).toMatchObject({ state: 'failed', error: { code } });
      const result = await browser.fetch(`/checkout/amazon-pay/result/${checkoutSessionId}`);
      expect(result.status).toBe(303);
      expect(result.location).toBe(`/checkout?error=${code}`);
    });
  }

  it('an expired session fails with the expired message', async () => {
    const browser = h.browser();
    await browser.startCheckout();
    const { checkoutSessionId } = h.sim.createSession({ createdAt: Date.now() - 25 * 3_600_000 });
    const ret = await browser.returnFromAmazon(checkoutSessionId);
    expect(ret.location).toBe('/checkout?error=expired');
  });

  it('an unknown session id fails cleanly', async () => {
    const browser = h.browser();
    await browser.startCheckout();
    const ret = await browser.returnFromAmazon('00000000-0000-4000-8000-000000000000');
    expect(ret.status).toBe(303);
    expect(ret.location).toMatch(/^\/checkout\?error=/);
  });

  it('the start page shows the generic message for unknown codes and never reflects text', async () => {
    const page = await h.browser().fetch('/checkout?error=%3Cscript%3Ealert(1)%3C%2Fscript%3E');
    expect(page.status).toBe(200);
    expect(page.body).toContain('Your request to save Amazon Pay as a payment method was not successful.');
    expect(page.body).not.toContain('<script>alert');
    expect(page.body).not.toContain('alert(1)');
  });
});

describe('browser binding', () => {
  it('no binding cookie → zero Complete calls, sent to start with checkout-restart', async () => {
    const { checkoutSessionId } = h.sim.createSession();
    const ret = await h.browser().returnFromAmazon(checkoutSessionId);
    expect(ret.location).toBe('/checkout?error=checkout-restart');
    expect(h.sim.stats(checkoutSessionId).completeCalls).toBe(0);
  });

  it('a tampered cookie → zero Complete calls', async () => {
    const browser = h.browser();
    await browser.startCheckout();
    const [name, value] = [...browser.cookies][0]!;
    browser.cookies.set(
      name,
      value.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')),
    );
    const { checkoutSessionId } = h.sim.createSession();
    const ret = await browser.returnFromAmazon(checkoutSessionId);
    expect(ret.location).toBe('/checkout?error=checkout-restart');
    expect(h.sim.stats(checkoutSessionId).completeCalls).toBe(0);
  });

  it('a foreign binding sees no buyer data and completes nothing', async () => {
    const owner = h.browser();
    await owner.startCheckout();
    const { checkoutSessionId } = h.sim.createSession();
    await owner.returnFromAmazon(checkoutSessionId);

    const stranger = h.browser();
    await stranger.startCheckout();
    const ret = await stranger.returnFromAmazon(checkoutSessionId);
    expect(ret.location).toBe('/checkout?error=checkout-restart');
    const page = await stranger.fetch(`/checkout/amazon-pay/result/${checkoutSessionId}`);
    expect(page.body).not.toContain('Susie Smith');
    const json = await stranger.fetch(`/api/amazon-pay/checkout-sessions/${checkoutSessionId}`);
    expect(json.status).toBe(404);
    expect(json.body).not.toContain('Susie');
    expect(h.sim.stats(checkoutSessionId).completeCalls).toBe(1);
  });

  it('a binding completes at most one session; a second id fails cleanly', async () => {
    const browser = h.browser();
    await browser.startCheckout();
    const first = h.sim.createSession();
    const second = h.sim.createSession();
    expect((await browser.returnFromAmazon(first.checkoutSessionId)).location).toMatch(/result/);
    const ret = await browser.returnFromAmazon(second.checkoutSessionId);
    expect(ret.location).toBe('/checkout?error=checkout-restart');
    expect(h.sim.stats(second.checkoutSessionId).completeCalls).toBe(0);
  });

  it('the binding cookie is signed, HttpOnly, SameSite=Lax and path-scoped', async () => {
    const res = await h.browser().fetch('/api/amazon-pay/button-config', { method: 'POST', body: '{}' });
    const cookies = res.headers['set-cookie'] as string[];
    expect(cookies).toHaveLength(2);
    for (const c of cookies) {
      expect(c).toMatch(/HttpOnly/);
      expect(c).toMatch(/SameSite=Lax/);
      expect(c).toMatch(/Path=\/(checkout|api)\/amazon-pay/);
      expect(c).toMatch(/Max-Age=\d+/);
    }
  });

  it('the JSON routes need the binding too', async () => {
    const { checkoutSessionId } = h.sim.createSession();
    const res = await h.browser().fetch(`/api/amazon-pay/checkout-sessions/${checkoutSessionId}/complete`, {
      method: 'POST',
      body: '{}',
    });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body)).toEqual({
      error: { code: 'checkout-restart', message: expect.any(String) },
    });
    expect(h.sim.stats(checkoutSessionId).completeCalls).toBe(0);
  });
});

describe('malformed ids never reach Amazon', () => {
  const bad = [
    ['empty', 'amazonCheckoutSessionId='],
    ['missing', ''],
    ['10 KB', `amazonCheckoutSessionId=${'a'.repeat(10_240)}`],
    ['dot-dot-slash', 'amazonCheckoutSessionId=../../etc/passwd'],
    ['encoded slashes', 'amazonCheckoutSessionId=..%2F..%2Fcomplete'],
    ['spaces', 'amazonCheckoutSessionId=bd504926%20f659-4ad7-a1a9-9a747aaf5275'],
    ['markup', 'amazonCheckoutSessionId=%3Cscript%3Ealert(1)%3C%2Fscript%3E'],
    ['NUL', 'amazonCheckoutSessionId=bd504926-f659-4ad7-a1a9-9a747aaf527%00'],
    ['unicode', 'amazonCheckoutSessionId=bd504926-f659-4ad7-a1a9-9a747aaf527%C3%A9'],
    [
      'the parameter twice',
      'amazonCheckoutSessionId=bd504926-f659-4ad7-a1a9-9a747aaf5275&amazonCheckoutSessionId=bd504926-f659-4ad7-a1a9-9a747aaf5275',
    ],
    [
      'both names',
      'amazonCheckoutSessionId=bd504926-f659-4ad7-a1a9-9a747aaf5275&checkoutSessionId=bd504926-f659-4ad7-a1a9-9a747aaf5275',
    ],
  ] as const;
  for (const [name, query] of bad) {
    it(`${name}: no upstream call, no 5xx`, async () => {
      const browser = h.browser();
      await browser.startCheckout();
      const before = h.sim.totals();
      const ret = await browser.fetch(`/checkout/amazon-pay/return?${query}`);
      expect(ret.status).toBeLessThan(500);
      expect(ret.status).toBe(303);
      expect(ret.location).toBe('/checkout?error=invalid-session');
      const after = h.sim.totals();
      expect(after.completeCalls + after.getCalls).toBe(before.completeCalls + before.getCalls);
    });
  }

  it('accepts checkoutSessionId as the parameter name', async () => {
    const browser = h.browser();
    await browser.startCheckout();
    const { checkoutSessionId } = h.sim.createSession();
    const ret = await browser.fetch(`/checkout/amazon-pay/return?checkoutSessionId=${checkoutSessionId}`);
    expect(ret.location).toBe(`/checkout/amazon-pay/result/${checkoutSessionId}`);
  });

  it('bad ids on the JSON and result routes: 400/404, no 5xx', async () => {
    const browser = h.browser();
    await browser.startCheckout();
    for (const id of ['x', '..%2F..', '%3Cb%3E', 'a'.repeat(150)]) {
      const json = await browser.fetch(`/api/amazon-pay/checkout-sessions/${id}/complete`, {
        method: 'POST',
        body: '{}',
      });
      expect([400, 404]).toContain(json.status);
      const page = await browser.fetch(`/checkout/amazon-pay/result/${id}`);
      expect(page.status).toBe(404);
    }
  });
});
