// The breaker and the bulkhead around Amazon Pay calls: unit rules with an injected clock, then over real HTTP:
// an open circuit answers "confirming" at once, recovery is probed and the reconciler finishes; overload answers busy.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  Bulkhead,
  BulkheadRejectedError,
  CIRCUIT_STATE_VALUE,
  CircuitBreaker,
  CircuitOpenError,
  type CircuitState,
  GuardedAmazonPay,
  verdictOf,
} from '../src/amazon-pay/circuit-breaker.ts';
import {
  AmazonPayApiError,
  AmazonPayInvalidResponseError,
  AmazonPayTimeoutError,
  AmazonPayTransportError,
} from '../src/amazon-pay/errors.ts';
import type { CheckoutSession } from '../src/amazon-pay/schemas.ts';
import type { AmazonPayApi } from '../src/amazon-pay/types.ts';
import { CompletionService } from '../src/checkout/completion.ts';
import { SqliteCheckoutStore } from '../src/store/sqlite.ts';
import { type Browser, type Harness, startHarness } from './support/harness.ts';

function clock(start = 1_000_000) {
  let t = start;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
  };
}

const transportFailure = () =>
  new AmazonPayTransportError('reset', { requestSent: true, code: 'ECONNRESET' });

describe('CircuitBreaker (injected clock)', () => {
  it('opens after N consecutive failures within the window, not before', () => {
    const c = clock();
    const breaker = new CircuitBreaker({ failureThreshold: 3, windowMs: 10_000, openMs: 5_000, now: c.now });
    for (let i = 0; i < 2; i += 1) breaker.release(breaker.tryAcquire()!, 'failure');
    expect(breaker.state).toBe('closed');
    breaker.release(breaker.tryAcquire()!, 'failure');
    expect(breaker.state).toBe('open');
    expect(breaker.tryAcquire()).toBeUndefined();
    expect(breaker.retryInMs).toBe(5_000);
  });

  it('a success resets the streak; failures spread beyond the window never open it', () => {
    const c = clock();
    const breaker = new CircuitBreaker({ failureThreshold: 3, windowMs: 10_000, now: c.now });
    breaker.release(breaker.tryAcquire()!, 'failure');
    breaker.release(breaker.tryAcquire()!, 'failure');
    breaker.release(breaker.tryAcquire()!, 'success');
    breaker.release(breaker.tryAcquire()!, 'failure');
    breaker.release(breaker.tryAcquire()!, 'failure');
    expect(breaker.state).toBe('closed');
    c.advance(10_001);
    breaker.release(breaker.tryAcquire()!, 'failure');
    expect(breaker.state).toBe('closed');
    breaker.release(breaker.tryAcquire()!, 'ignore');
    breaker.release(breaker.tryAcquire()!, 'failure');
    breaker.release(breaker.tryAcquire()!, 'failure');
    expect(breaker.state).toBe('open');
  });

  it('half-open lets one probe through; its success closes the circuit', () => {
    const c = clock();
    const changes: Array<[CircuitState, CircuitState]> = [];
    const breaker = new CircuitBreaker({
      failureThreshold: 1,
      openMs: 5_000,
      now: c.now,
      onStateChange: (state, previous) => changes.push([state, previous]),
    });
    breaker.release(breaker.tryAcquire()!, 'failure');
    c.advance(4_999);
    expect(breaker.state).toBe('open');
    c.advance(1);
    expect(breaker.state).toBe('half-open');
    const probe = breaker.tryAcquire();
    expect(probe?.probe).toBe(true);
    expect(breaker.tryAcquire()).toBeUndefined();
    expect(breaker.allowsCalls).toBe(false);
    breaker.release(probe!, 'success');
    expect(breaker.state).toBe('closed');
    expect(changes).toEqual([
      ['open', 'closed'],
      ['half-open', 'open'],
      ['closed', 'half-open'],
    ]);
  });

  it('a failed probe re-opens for twice as long, capped; a late success of an old call does not close it', () => {
    const c = clock();
    const breaker = new CircuitBreaker({ failureThreshold: 1, openMs: 1_000, maxOpenMs: 3_000, now: c.now });
    const old = breaker.tryAcquire()!;
    breaker.release(breaker.tryAcquire()!, 'failure');
    breaker.release(old, 'success');
    expect(breaker.state).toBe('open');
    for (const expected of [2_000, 3_000, 3_000]) {
      c.advance(breaker.retryInMs);
      breaker.release(breaker.tryAcquire()!, 'failure');
      expect(breaker.retryInMs).toBe(expected);
    }
    c.advance(3_000);
    breaker.release(breaker.tryAcquire()!, 'success');
    expect(breaker.state).toBe('closed');
    // Closed again with the base open time.
    breaker.release(breaker.tryAcquire()!, 'failure');
    expect(breaker.retryInMs).toBe(1_000);
  });

  it('an aborted probe frees its slot and leaves the circuit half-open', () => {
    const c = clock();
    const breaker = new CircuitBreaker({ failureThreshold: 1, openMs: 1_000, now: c.now });
    breaker.release(breaker.tryAcquire()!, 'failure');
    c.advance(1_000);
    breaker.release(breaker.tryAcquire()!, 'ignore');
    expect(breaker.state).toBe('half-open');
    expect(breaker.tryAcquire()?.probe).toBe(true);
  });

  it('counts only "Amazon is not answering" as failure', () => {
    expect(verdictOf(transportFailure())).toBe('failure');
    expect(verdictOf(new AmazonPayTimeoutError('t', 100))).toBe('failure');
    expect(verdictOf(new AmazonPayApiError(503, 'ServiceUnavailable', ''))).toBe('failure');
    expect(verdictOf(new AmazonPayApiError(408, 'RequestTimeout', ''))).toBe('failure');
    expect(verdictOf(new AmazonPayApiError(429, 'TooManyRequests', ''))).toBe('success');
    expect(verdictOf(new AmazonPayApiError(422, 'InvalidCheckoutSessionStatus', ''))).toBe('success');
    expect(verdictOf(new AmazonPayInvalidResponseError('bad', 200))).toBe('success');
    expect(verdictOf(new AmazonPayTransportError('aborted', { requestSent: true, code: 'ABORT_ERR' }))).toBe(
      'ignore',
    );
    expect(verdictOf(new CircuitOpenError(0))).toBe('ignore');
    expect(verdictOf(new BulkheadRejectedError('queue-full'))).toBe('ignore');
    expect(CIRCUIT_STATE_VALUE).toEqual({ closed: 0, 'half-open': 1, open: 2 });
  });
});

describe('Bulkhead', () => {
  it('caps concurrency, queues FIFO up to the bound, refuses beyond it', async () => {
    const bulkhead = new Bulkhead({ maxConcurrent: 2, maxQueue: 2, maxQueueWaitMs: 10_000 });
    const a = await bulkhead.acquire();
    const b = await bulkhead.acquire();
    const order: string[] = [];
    const c = bulkhead.acquire().then((release) => {
      order.push('c');
      return release;
    });
    const d = bulkhead.acquire().then((release) => {
      order.push('d');
      return release;
    });
    expect(bulkhead.saturated).toBe(true);
    await expect(bulkhead.acquire()).rejects.toMatchObject({ reason: 'queue-full' });
    a();
    a(); // A second release of the same slot is a no-op.
    const releaseC = await c;
    expect(order).toEqual(['c']);
    expect(bulkhead.active).toBe(2);
    b();
    (await d)();
    releaseC();
    expect(order).toEqual(['c', 'd']);
    expect(bulkhead.active).toBe(0);
    expect(bulkhead.queued).toBe(0);
  });

  it('a waiter gives up after maxQueueWaitMs or when its signal aborts, and leaves the queue', async () => {
    const bulkhead = new Bulkhead({ maxConcurrent: 1, maxQueue: 5, maxQueueWaitMs: 50 });
    const held = await bulkhead.acquire();
    await expect(bulkhead.acquire()).rejects.toMatchObject({ reason: 'queue-timeout' });
    const controller = new AbortController();
    const waiting = bulkhead.acquire(controller.signal);
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ reason: 'aborted' });
    expect(bulkhead.queued).toBe(0);
    held();
    expect(bulkhead.active).toBe(0);
  });
});

describe('GuardedAmazonPay', () => {
  function fakeClient(impl: () => Promise<never>): AmazonPayApi & { calls: number } {
    const fake = {
      calls: 0,
      algorithm: 'AMZN-PAY-RSASSA-PSS-V2',
      publicKeyId: 'SANDBOX-X',
      completeCheckoutSession: () => {
        fake.calls += 1;
        return impl();
      },
      getCheckoutSession: () => {
        fake.calls += 1;
        return impl();
      },
      signButtonPayload: async () => 'sig',
    };
    return fake;
  }

  it('an open circuit refuses before calling (nothing sent); button signing is never gated', async () => {
    const c = clock();
    const inner = fakeClient(() => Promise.reject(transportFailure()));
    const guarded = new GuardedAmazonPay(inner, {
      breaker: new CircuitBreaker({ failureThreshold: 2, now: c.now }),
      bulkhead: new Bulkhead(),
    });
    await expect(guarded.getCheckoutSession('a')).rejects.toBeInstanceOf(AmazonPayTransportError);
    await expect(guarded.getCheckoutSession('a')).rejects.toBeInstanceOf(AmazonPayTransportError);
    const refused = guarded.completeCheckoutSession('a', {}, { idempotencyKey: 'k' });
    await expect(refused).rejects.toBeInstanceOf(CircuitOpenError);
    await expect(refused).rejects.toMatchObject({ requestSent: false, ambiguous: false });
    expect(inner.calls).toBe(2);
    expect(await guarded.signButtonPayload('{}')).toBe('sig');
    expect(guarded.bulkhead.active).toBe(0);
  });
});

describe('a call refused by the bulkhead after the claim (the race past the admission check)', () => {
  it('releases the claim (unknown, due now, no lease), answers busy, and the next try completes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulkhead-race-'));
    const store = new SqliteCheckoutStore(join(dir, 'checkout.db'));
    try {
      await store.migrate();
      const t = clock(Date.now());
      await store.createBinding({
        bindingId: 'b1',
        createdAt: t.now(),
        expiresAt: t.now() + 60_000,
        checkoutSessionId: null,
      });
      const completed = {
        checkoutSessionId: 'a',
        statusDetails: { state: 'Completed' },
        buyer: { buyerId: 'x', name: 'Susie Smith', email: 'name@amazon.com' },
        chargePermissionId: 'B01-1',
      } as unknown as CheckoutSession;
      let calls = 0;
      const inner: AmazonPayApi = {
        algorithm: 'AMZN-PAY-RSASSA-PSS-V2',
        publicKeyId: 'SANDBOX-X',
        completeCheckoutSession: async () => {
          calls += 1;
          return { data: completed, status: 200, requestId: undefined, attempts: 1 };
        },
        getCheckoutSession: async () => {
          calls += 1;
          return { data: completed, status: 200, requestId: undefined, attempts: 1 };
        },
        signButtonPayload: async () => 'sig',
      };
      const bulkhead = new Bulkhead({ maxConcurrent: 1, maxQueue: 0 });
      const client = new GuardedAmazonPay(inner, { breaker: new CircuitBreaker({ now: t.now }), bulkhead });
      const silent = { debug() {}, info() {}, warn() {}, error() {} };
      // The admission check says "fine" (as it would a moment before the slot filled up).
      const completion = new CompletionService({
        store,
        client,
        logger: silent,
        now: t.now,
        overloaded: () => false,
      });
      const held = await bulkhead.acquire();
      const id = '0b6f3e4c-1d2a-4b5c-8d9e-0f1a2b3c4d5e';

      const first = await completion.complete(id, 'b1');
      expect(first).toEqual({ kind: 'busy', retryAfterSeconds: 5 });
      expect(calls).toBe(0);
      const released = await store.get(id);
      expect(released).toMatchObject({ state: 'unknown', leaseOwner: null });
      expect(released!.nextAttemptAt!).toBeLessThanOrEqual(t.now());

      held();
      const second = await completion.complete(id, 'b1');
      expect(second.kind).toBe('completed');
      // The retry reads Amazon's state first (an earlier claim existed), so nothing is completed blindly.
      expect(calls).toBe(1);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// --- over real HTTP ------------------------------------------------------------------------------------------

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - started };
}

describe('open circuit on the return path (real HTTP, injected clock)', () => {
  let h: Harness;
  let clockOffset = 0;
  const transitions: CircuitState[] = [];
  beforeAll(async () => {
    h = await startHarness(
      {
        now: () => Date.now() + clockOffset,
        circuitBreaker: { failureThreshold: 3, windowMs: 60_000, openMs: 30_000 },
      },
      { amazonPay: { attemptTimeoutMs: 500, budgetMs: 2_000 } },
    );
    h.service.circuit.onStateChange((state) => transitions.push(state));
  });
  afterAll(async () => {
    await h?.close();
  });

  it('Amazon keeps failing → the circuit opens; new returns get "confirming" at once and make no call; recovery is probed and the reconciler finishes every record once', async () => {
    h.sim.injectFault({ kind: 'status', status: 503, operation: 'any', times: 10_000 });
    const sessions: Array<{ browser: Browser; id: string }> = [];
    // Each return makes two failing calls (Complete, then Get): two returns trip a threshold of 3.
    for (let i = 0; i < 2; i += 1) {
      const browser = h.browser();
      await browser.startCheckout();
      const { checkoutSessionId: id } = h.sim.createSession();
      const ret = await browser.returnFromAmazon(id);
      expect(ret.location).toBe(`/checkout/amazon-pay/result/${id}`);
      sessions.push({ browser, id });
    }
    expect(h.service.circuit.state).toBe('open');
    expect(transitions).toEqual(['open']);
    // Invariant: the circuit state is exported for alerting.
    expect(await h.service.metrics.text()).toMatch(/^amazon_pay_circuit_state 2$/m);

    // Invariant: with the circuit open a return answers at once (spec: within 100 ms; asserted generously) with
    // the confirming page, and nothing is sent upstream.
    for (let i = 0; i < 3; i += 1) {
      const browser = h.browser();
      await browser.startCheckout();
      const { checkoutSessionId: id } = h.sim.createSession();
      const { value: ret, ms } = await timed(() => browser.returnFromAmazon(id));
      expect(ms).toBeLessThan(1_000);
      expect(ret.status).toBe(303);
      expect(ret.location).toBe(`/checkout/amazon-pay/result/${id}`);
      const page = await browser.follow(ret);
      expect(page.body).toContain('id="confirming"');
      expect(h.sim.stats(id)).toMatchObject({ completeCalls: 0, getCalls: 0 });
      expect((await h.service.store.get(id))?.state).toBe('unknown');
      sessions.push({ browser, id });
    }

    // Invariant: the reconciler does not hammer a dead upstream while the circuit is open.
    const callsBefore = h.sim.totals();
    clockOffset += 20_000;
    await h.service.reconciler.runOnce();
    expect(h.sim.totals()).toMatchObject({
      completeCalls: callsBefore.completeCalls,
      getCalls: callsBefore.getCalls,
    });

    // Amazon recovers; once the open time is over the reconciler's first call is the probe that closes it.
    h.sim.clearFaults();
    clockOffset += 3_600_000;
    expect(h.service.circuit.state).toBe('half-open');
    await h.service.reconciler.runOnce();
    expect(h.service.circuit.state).toBe('closed');
    expect(transitions).toEqual(['open', 'half-open', 'closed']);
    expect(await h.service.metrics.text()).toMatch(/^amazon_pay_circuit_state 0$/m);
    for (const { browser, id } of sessions) {
      expect((await h.service.store.get(id))?.state).toBe('completed');
      const stats = h.sim.stats(id);
      expect(stats.completeOutcomes).toBe(1);
      expect(stats.idempotencyKeys).toHaveLength(1);
      const page = await browser.fetch(`/checkout/amazon-pay/result/${id}`);
      expect(page.body).toContain('Susie Smith');
    }
  });
});

describe('bulkhead overload (real HTTP)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(
      { bulkhead: { maxConcurrent: 2, maxQueue: 2 } },
      { amazonPay: { attemptTimeoutMs: 5_000, budgetMs: 8_000 } },
    );
  });
  afterAll(async () => {
    await h?.close();
  });
  afterEach(() => {
    h.sim.clearFaults();
  });

  async function prepared(n: number) {
    return Promise.all(
      Array.from({ length: n }, async () => {
        const browser = h.browser();
        await browser.startCheckout();
        return { browser, id: h.sim.createSession().checkoutSessionId };
      }),
    );
  }

  it('beyond the cap and the queue: busy answers (503 + Retry-After), nothing claimed, liveness stays fast, and a later retry completes once', async () => {
    // Four slow completions fill both slots and the queue.
    h.sim.injectFault({ kind: 'latency', operation: 'complete', ms: 1_500, times: 4 });
    const admitted = await prepared(4);
    const admittedReturns = admitted.map(({ browser, id }) => browser.returnFromAmazon(id));
    const deadline = Date.now() + 10_000;
    while (!h.service.bulkhead.saturated && Date.now() < deadline) await sleep(10);
    expect(h.service.bulkhead.saturated).toBe(true);

    const turnedAway = await prepared(3);
    // Browser: a busy page, not a failure redirect.
    const page = await turnedAway[0]!.browser.returnFromAmazon(turnedAway[0]!.id);
    expect(page.status).toBe(503);
    expect(page.headers['retry-after']).toBe('5');
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.body).toContain('We are receiving many requests right now');
    expect(page.location).toBeUndefined();
    // JSON: 503 busy with Retry-After.
    const json = await turnedAway[1]!.browser.fetch(
      `/api/amazon-pay/checkout-sessions/${turnedAway[1]!.id}/complete`,
      { method: 'POST', body: '{}' },
    );
    expect(json.status).toBe(503);
    expect(json.headers['retry-after']).toBe('5');
    expect(JSON.parse(json.body)).toEqual({ error: { code: 'busy', message: expect.any(String) } });

    // Invariant: the event loop stays responsive under a burst of turned-away requests (generous bound).
    const burst = Array.from({ length: 100 }, () =>
      turnedAway[2]!.browser.fetch(`/api/amazon-pay/checkout-sessions/${turnedAway[2]!.id}/complete`, {
        method: 'POST',
        body: '{}',
      }),
    );
    const { value: live, ms } = await timed(() => h.browser().fetch('/health/live'));
    expect(live.status).toBe(200);
    expect(ms).toBeLessThan(2_000);
    expect((await Promise.all(burst)).every((r) => r.status === 503)).toBe(true);

    // Invariant: nothing was claimed for a turned-away buyer, and nothing reached Amazon.
    for (const { id } of turnedAway) {
      expect(await h.service.store.get(id)).toBeUndefined();
      expect(h.sim.stats(id).completeCalls).toBe(0);
    }

    // The admitted ones finish normally.
    for (const [i, ret] of (await Promise.all(admittedReturns)).entries()) {
      expect(ret.location).toBe(`/checkout/amazon-pay/result/${admitted[i]!.id}`);
    }
    // Invariant: nothing is lost: a turned-away buyer who tries again completes, exactly once.
    for (const { browser, id } of [...admitted, ...turnedAway]) {
      const again = await browser.returnFromAmazon(id);
      expect(again.location).toBe(`/checkout/amazon-pay/result/${id}`);
      expect((await h.service.store.get(id))?.state).toBe('completed');
      expect(h.sim.stats(id).completeOutcomes).toBe(1);
      expect(h.sim.stats(id).idempotencyKeys).toHaveLength(1);
    }
  });

  it('a refresh of an already decided session is still answered while saturated (no Amazon call needed)', async () => {
    const [done] = await prepared(1);
    expect((await done!.browser.returnFromAmazon(done!.id)).location).toBe(
      `/checkout/amazon-pay/result/${done!.id}`,
    );
    h.sim.injectFault({ kind: 'latency', operation: 'complete', ms: 1_000, times: 4 });
    const admitted = await prepared(4);
    const pending = admitted.map(({ browser, id }) => browser.returnFromAmazon(id));
    const deadline = Date.now() + 10_000;
    while (!h.service.bulkhead.saturated && Date.now() < deadline) await sleep(10);
    const refresh = await done!.browser.returnFromAmazon(done!.id);
    expect(refresh.status).toBe(303);
    expect(refresh.location).toBe(`/checkout/amazon-pay/result/${done!.id}`);
    await Promise.all(pending);
  });
});
