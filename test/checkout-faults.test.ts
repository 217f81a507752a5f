// Amazon unreachable or flaky for a while: `unknown`, shown as "confirming", then settled by the reconciler; a clean
// rejection is a clean failure; a dead worker's claim is finished. (Single faults: test/fault-matrix.test.ts.)
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { FaultSpec } from '../src/simulator/faults.ts';
import { type Harness, startHarness } from './support/harness.ts';

/** A fault for the session under test (the helper fills in its id). */
type Fault = FaultSpec extends infer F ? (F extends unknown ? Omit<F, 'checkoutSessionId'> : never) : never;

let h: Harness;
let clockOffset = 0;
beforeAll(async () => {
  // Short deadlines so hung and trickling answers resolve quickly; the clock can be moved for the reconciler.
  h = await startHarness(
    { now: () => Date.now() + clockOffset },
    { amazonPay: { attemptTimeoutMs: 800, budgetMs: 2_500 } },
  );
});
afterAll(async () => {
  await h.close();
});
beforeEach(() => {
  h.sim.clearFaults();
});

async function returnWithFault(fault: Fault | Fault[]) {
  const browser = h.browser();
  await browser.startCheckout();
  const { checkoutSessionId } = h.sim.createSession();
  for (const f of Array.isArray(fault) ? fault : [fault])
    h.sim.injectFault({ ...f, checkoutSessionId } as FaultSpec);
  const ret = await browser.returnFromAmazon(checkoutSessionId);
  return { browser, checkoutSessionId, ret };
}

describe('Amazon unreachable: unknown, shown as confirming, then settled by the reconciler', () => {
  it('every call fails → confirming page → Amazon recovers → reconciler completes once', async () => {
    const { browser, checkoutSessionId, ret } = await returnWithFault({
      kind: 'status',
      status: 503,
      operation: 'any',
      processFirst: true,
      times: 1_000,
    });
    expect(ret.location).toBe(`/checkout/amazon-pay/result/${checkoutSessionId}`);
    expect((await h.service.store.get(checkoutSessionId))?.state).toBe('unknown');
    const confirming = await browser.fetch(ret.location!);
    expect(confirming.status).toBe(200);
    expect(confirming.body).toContain('id="confirming"');
    expect(confirming.body).not.toContain('not successful');
    const json = await browser.fetch(`/api/amazon-pay/checkout-sessions/${checkoutSessionId}`);
    expect(json.status).toBe(202);
    expect(JSON.parse(json.body).state).toBe('pending');

    // Not due yet: the reconciler leaves it alone.
    h.sim.clearFaults();
    await h.service.reconciler.runOnce();
    expect((await h.service.store.get(checkoutSessionId))?.state).toBe('unknown');

    clockOffset += 3_600_000;
    await h.service.reconciler.runOnce();
    expect((await h.service.store.get(checkoutSessionId))?.state).toBe('completed');
    const page = await browser.fetch(ret.location!);
    expect(page.body).toContain('Susie Smith');
    expect(h.sim.stats(checkoutSessionId).completeOutcomes).toBe(1);
  });

  it('declined while Amazon was flaky → the reconciler settles it as failed with the reason', async () => {
    const browser = h.browser();
    await browser.startCheckout();
    const { checkoutSessionId } = h.sim.createSession({ outcome: 'Declined' });
    h.sim.injectFault({
      kind: 'reset',
      operation: 'any',
      processFirst: true,
      times: 1_000,
      checkoutSessionId,
    });
    const ret = await browser.returnFromAmazon(checkoutSessionId);
    expect(ret.location).toBe(`/checkout/amazon-pay/result/${checkoutSessionId}`);
    h.sim.clearFaults();
    clockOffset += 3_600_000;
    await h.service.reconciler.runOnce();
    const record = await h.service.store.get(checkoutSessionId);
    expect(record?.state).toBe('failed');
    expect(record?.reasonCode).toBe('Declined');
    const page = await browser.fetch(ret.location!);
    expect(page.status).toBe(303);
    expect(page.location).toBe('/checkout?error=declined');
  });

  it('a non-retryable signature error is a clean failure, not retried', async () => {
    const { checkoutSessionId, ret } = await returnWithFault({
      kind: 'status',
      status: 403,
      reasonCode: 'InvalidRequestSignature',
      operation: 'complete',
    });
    expect(ret.location).toBe('/checkout?error=not-successful');
    expect(h.sim.stats(checkoutSessionId).completeCalls).toBe(1);
  });

  it('a crashed worker (pending, lease expired) is finished by the reconciler with the same key', async () => {
    const browser = h.browser();
    const config = await browser.startCheckout();
    expect(config.payloadJSON).toBeTruthy();
    const { checkoutSessionId } = h.sim.createSession();
    const bindingId = [...browser.cookies.values()][0]!.split('.')[0]!;
    // Simulate a worker that claimed and died before calling Amazon.
    const claim = await h.service.store.claim({
      checkoutSessionId,
      bindingId,
      owner: 'dead-worker',
      leaseMs: 1_000,
      now: Date.now() + clockOffset,
    });
    expect(claim.kind).toBe('claimed');
    clockOffset += 60_000;
    await h.service.reconciler.runOnce();
    expect((await h.service.store.get(checkoutSessionId))?.state).toBe('completed');
    expect(h.sim.stats(checkoutSessionId).completeOutcomes).toBe(1);
  });
});
