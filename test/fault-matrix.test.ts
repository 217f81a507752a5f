// The fault matrix: every simulator injection on the return path, in both stores, checked for the buyer's pages,
// the record's final state and the exact upstream calls (one Complete outcome, one idempotency key, ever).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { FaultSpec } from '../src/simulator/faults.ts';
import { type Harness, startHarness, TEST_PG_URL } from './support/harness.ts';

/** A fault for the session under test (the helper fills in its id). */
type Fault = FaultSpec extends infer F ? (F extends unknown ? Omit<F, 'checkoutSessionId'> : never) : never;

interface Case {
  name: string;
  faults: Fault[];
  outcome?: 'success' | 'Declined';
  /** `completed`/`failed` on the buyer's own request, or `unknown` first and then settled by the reconciler. */
  path: 'decided' | 'unknown';
  final: 'completed' | 'failed';
  /** Upstream calls when the buyer's request is done (before any reconciler run). */
  calls: { complete: number; get: number };
  /** Complete outcomes at Amazon when the buyer's request is done: 0 when nothing was processed yet. */
  outcomesBefore?: 0;
  /** Extra calls the reconciler makes to settle an `unknown` record. */
  reconcilerCalls?: { complete: number; get: number };
}

const complete = 'complete' as const;
const CASES: Case[] = [
  {
    name: 'reset after the request was sent → same-key retry replays the answer',
    faults: [{ kind: 'reset', operation: complete, processFirst: true }],
    path: 'decided',
    final: 'completed',
    calls: { complete: 2, get: 0 },
  },
  {
    name: 'resets on every attempt after processing → Get reads Completed',
    faults: [{ kind: 'reset', operation: complete, processFirst: true, times: 4 }],
    path: 'decided',
    final: 'completed',
    calls: { complete: 4, get: 1 },
  },
  {
    name: 'truncated body → same-key retry',
    faults: [{ kind: 'truncated-body', operation: complete }],
    path: 'decided',
    final: 'completed',
    calls: { complete: 2, get: 0 },
  },
  {
    name: 'slow body beyond the attempt deadline → same-key retry',
    faults: [{ kind: 'slow-body', operation: complete, durationMs: 2_000 }],
    path: 'decided',
    final: 'completed',
    calls: { complete: 2, get: 0 },
  },
  {
    name: 'never answering → same-key retry',
    faults: [{ kind: 'hang', operation: complete }],
    path: 'decided',
    final: 'completed',
    calls: { complete: 2, get: 0 },
  },
  {
    name: 'slow headers beyond the attempt deadline → same-key retry',
    faults: [{ kind: 'slow-headers', operation: complete, ms: 1_500 }],
    path: 'decided',
    final: 'completed',
    calls: { complete: 2, get: 0 },
  },
  {
    name: '429 with Retry-After → retried after the wait',
    faults: [{ kind: 'status', status: 429, retryAfterSeconds: 1, operation: complete }],
    path: 'decided',
    final: 'completed',
    calls: { complete: 2, get: 0 },
  },
  ...([500, 502, 503, 504] as const).map(
    (status): Case => ({
      name: `${status} burst before processing → retried`,
      faults: [{ kind: 'status', status, operation: complete, times: 2 }],
      path: 'decided',
      final: 'completed',
      calls: { complete: 3, get: 0 },
    }),
  ),
  ...([500, 502, 503, 504] as const).map(
    (status): Case => ({
      name: `${status} burst after processing → retry replays the stored answer`,
      faults: [{ kind: 'status', status, operation: complete, times: 2, processFirst: true }],
      path: 'decided',
      final: 'completed',
      calls: { complete: 3, get: 0 },
    }),
  ),
  {
    name: '503 on every attempt, not processed → Get says Open → Complete again with the same key',
    faults: [{ kind: 'status', status: 503, operation: complete, times: 4 }],
    path: 'decided',
    final: 'completed',
    calls: { complete: 5, get: 1 },
  },
  {
    name: '200 with invalid JSON → Get reads Completed',
    faults: [{ kind: 'invalid-json', operation: complete }],
    path: 'decided',
    final: 'completed',
    calls: { complete: 1, get: 1 },
  },
  {
    name: '200 with an unexpected state → Get reads Completed',
    faults: [{ kind: 'unexpected-state', operation: complete, state: 'Processing' }],
    path: 'decided',
    final: 'completed',
    calls: { complete: 1, get: 1 },
  },
  {
    name: '422 InvalidCheckoutSessionStatus after processing (a lost first answer) → Get reads Completed',
    faults: [
      {
        kind: 'status',
        status: 422,
        reasonCode: 'InvalidCheckoutSessionStatus',
        operation: complete,
        processFirst: true,
      },
    ],
    path: 'decided',
    final: 'completed',
    calls: { complete: 1, get: 1 },
  },
  {
    name: 'truncated 422 CheckoutSessionCanceled of a declined session → Get reads the reason',
    faults: [{ kind: 'truncated-body', operation: complete }],
    outcome: 'Declined',
    path: 'decided',
    final: 'failed',
    calls: { complete: 2, get: 1 },
  },
  {
    name: '503 on every Complete and Get attempt → unknown → reconciler reads Completed',
    faults: [{ kind: 'status', status: 503, operation: 'any', processFirst: true, times: 8 }],
    path: 'unknown',
    final: 'completed',
    calls: { complete: 4, get: 4 },
    reconcilerCalls: { complete: 0, get: 1 },
  },
  {
    name: 'invalid JSON, then Get resets on every attempt → unknown → reconciler reads Completed',
    faults: [
      { kind: 'invalid-json', operation: complete },
      { kind: 'reset', operation: 'get', processFirst: false, times: 4 },
    ],
    path: 'unknown',
    final: 'completed',
    calls: { complete: 1, get: 4 },
    reconcilerCalls: { complete: 0, get: 1 },
  },
  {
    name: 'resets before processing on every attempt of both → unknown → reconciler completes with the same key',
    faults: [{ kind: 'reset', operation: 'any', processFirst: false, times: 8 }],
    path: 'unknown',
    final: 'completed',
    calls: { complete: 4, get: 4 },
    outcomesBefore: 0,
    reconcilerCalls: { complete: 1, get: 1 },
  },
];

const STORES = [
  { store: 'sqlite', databaseUrl: undefined },
  { store: 'postgres', databaseUrl: TEST_PG_URL },
] as const;

describe.each(STORES)('fault matrix on $store', ({ databaseUrl }) => {
  let h: Harness;
  let clockOffset = 0;
  beforeAll(async () => {
    // Short attempt deadlines keep hung and trickling answers cheap; the budget still fits Retry-After: 1.
    h = await startHarness(
      { now: () => Date.now() + clockOffset },
      { amazonPay: { attemptTimeoutMs: 600, budgetMs: 3_500 }, ...(databaseUrl ? { databaseUrl } : {}) },
    );
  });
  afterAll(async () => {
    await h?.close();
  });
  beforeEach(() => {
    h.sim.clearFaults();
  });

  it.each(CASES)('$name', async (c) => {
    const browser = h.browser();
    await browser.startCheckout();
    const { checkoutSessionId: id } = h.sim.createSession({ outcome: c.outcome ?? 'success' });
    for (const f of c.faults) h.sim.injectFault({ ...f, checkoutSessionId: id } as FaultSpec);
    const resultUrl = `/checkout/amazon-pay/result/${id}`;
    const failureUrl = '/checkout?error=declined';

    const ret = await browser.returnFromAmazon(id);

    // Invariant: the buyer's first answer is a 303 to the result page unless Amazon really canceled.
    expect(ret.status).toBe(303);
    expect(ret.location).toBe(c.final === 'failed' ? failureUrl : resultUrl);
    // Invariant: exact upstream calls for this fault, and never a second Complete outcome or a second key.
    // (The client's retries are capped at 4 attempts within the budget, so the counts are deterministic.)
    let stats = h.sim.stats(id);
    expect({ complete: stats.completeCalls, get: stats.getCalls }).toEqual(c.calls);
    expect(stats.completeOutcomes).toBe(c.outcomesBefore ?? 1);
    expect(stats.idempotencyKeys.length).toBeLessThanOrEqual(1);

    if (c.path === 'unknown') {
      // Invariant: undecided is shown as "confirming", never as a failure.
      expect((await h.service.store.get(id))?.state).toBe('unknown');
      const confirming = await browser.follow(ret);
      expect(confirming.status).toBe(200);
      expect(confirming.body).toContain('id="confirming"');
      expect(confirming.body).not.toContain('not successful');
      h.sim.clearFaults();
      clockOffset += 3_600_000;
      await h.service.reconciler.runOnce();
      stats = h.sim.stats(id);
      const extra = c.reconcilerCalls ?? { complete: 0, get: 0 };
      expect({ complete: stats.completeCalls, get: stats.getCalls }).toEqual({
        complete: c.calls.complete + extra.complete,
        get: c.calls.get + extra.get,
      });
    }

    // Invariant: the record ends in Amazon's state; Amazon acted once, under one key.
    expect(stats.completeOutcomes).toBe(1);
    expect(stats.idempotencyKeys).toHaveLength(1);
    const record = await h.service.store.get(id);
    expect(record?.state).toBe(c.final);
    expect(stats.state).toBe(c.final === 'completed' ? 'Completed' : 'Canceled');

    // Invariant: a refresh of the return URL makes no further Complete and lands on the same final page.
    const callsBefore = h.sim.stats(id).completeCalls;
    const refreshed = await browser.returnFromAmazon(id);
    expect(refreshed.location).toBe(c.final === 'failed' ? failureUrl : resultUrl);
    const page = await browser.follow(refreshed);
    if (c.final === 'completed') {
      expect(page.url).toBe(resultUrl);
      expect(page.status).toBe(200);
      expect(page.body).toContain('Susie Smith');
    } else {
      expect(page.url).toBe(failureUrl);
      expect(page.body).toContain('could not use the selected payment method');
    }
    expect(h.sim.stats(id).completeCalls).toBe(callsBefore);
  });
});
