// Property-based test: random interleavings of returns, refreshes, parallel tabs, JSON completes, injected faults,
// dead workers, restarts and reconciler runs never break exactly-once or show a failure for a completed session.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FaultSpec } from '../src/simulator/faults.ts';
import type { SessionOutcome } from '../src/simulator/index.ts';
import { type Browser, type Harness, type HttpResult, startHarness } from './support/harness.ts';

/** Fixed by default so a failure reproduces; fast-check prints the seed and the shrunk path when it fails. */
const SEED = Number(process.env.PROPERTY_SEED ?? 20_261_127);
const RUNS = Number(process.env.PROPERTY_RUNS ?? 50);
/** One reconciler step: past every backoff (capped at 15 min) and every lease (60 s by default). */
const STEP_MS = 20 * 60_000;

type Fault = FaultSpec extends infer F ? (F extends unknown ? Omit<F, 'checkoutSessionId'> : never) : never;

const operation = fc.constantFrom('complete' as const, 'get' as const, 'any' as const);
const faultArb: fc.Arbitrary<Fault> = fc.oneof(
  fc.record({ kind: fc.constant('reset' as const), operation, processFirst: fc.boolean() }),
  fc.record({ kind: fc.constant('truncated-body' as const), operation }),
  fc.record({
    kind: fc.constant('status' as const),
    operation,
    status: fc.constantFrom(429, 500, 502, 503, 504),
    processFirst: fc.boolean(),
    // Up to twice the client's 4 attempts: bursts that outlast one call's retries matter most.
    times: fc.integer({ min: 1, max: 8 }),
  }),
  fc.record({ kind: fc.constant('invalid-json' as const), operation }),
  fc.record({ kind: fc.constant('unexpected-state' as const), operation, state: fc.constant('Processing') }),
  fc.record({ kind: fc.constant('hang' as const), operation }),
  fc.record({ kind: fc.constant('slow-headers' as const), operation, ms: fc.constant(400) }),
);

type Action =
  | { t: 'return'; s: number; tabs: number }
  | { t: 'return-background'; s: number }
  | { t: 'json'; s: number }
  | { t: 'result'; s: number }
  | { t: 'fault'; s: number; fault: Fault }
  | { t: 'dead-worker'; s: number }
  | { t: 'restart' }
  | { t: 'reconcile' };

function actionArb(sessions: number): fc.Arbitrary<Action> {
  const s = fc.integer({ min: 0, max: sessions - 1 });
  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({ t: fc.constant('return' as const), s, tabs: fc.integer({ min: 1, max: 3 }) }),
    },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('return-background' as const), s }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('json' as const), s }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('result' as const), s }) },
    { weight: 4, arbitrary: fc.record({ t: fc.constant('fault' as const), s, fault: faultArb }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('dead-worker' as const), s }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('restart' as const) }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('reconcile' as const) }) },
  );
}

const scenarioArb = fc.integer({ min: 1, max: 3 }).chain((sessions) =>
  fc.record({
    outcomes: fc.array(fc.constantFrom<SessionOutcome>('success', 'success', 'Declined', 'BuyerCanceled'), {
      minLength: sessions,
      maxLength: sessions,
    }),
    // Faults waiting before the first return, so the buyer's own drive meets them.
    initialFaults: fc.array(fc.array(faultArb, { maxLength: 2 }), {
      minLength: sessions,
      maxLength: sessions,
    }),
    actions: fc.array(actionArb(sessions), { minLength: 2, maxLength: 10 }),
  }),
);

/** What the buyer was shown: the result (or confirming) page, a failure, or "busy". */
type Shown = 'result' | 'failure' | 'busy';

function shownByRedirect(res: HttpResult, id: string): Shown {
  if (res.status === 503) return 'busy';
  if (res.status === 303 && res.location === `/checkout/amazon-pay/result/${id}`) return 'result';
  if (res.status === 303 && res.location?.startsWith('/checkout?error=')) return 'failure';
  throw new Error(`unexpected answer ${res.status} ${res.location ?? ''}`);
}

function shownByJson(res: HttpResult): Shown {
  if (res.status === 503) return 'busy';
  if (res.status === 202) return 'result';
  const body = JSON.parse(res.body) as { state?: string };
  if (res.status === 200 && body.state === 'completed') return 'result';
  if (res.status === 200 && body.state === 'failed') return 'failure';
  throw new Error(`unexpected JSON answer ${res.status} ${res.body}`);
}

let h: Harness;
let clockOffset = 0;
beforeAll(async () => {
  // Tight deadlines and a short return wait: drives run on in the background while later actions interleave.
  h = await startHarness(
    { now: () => Date.now() + clockOffset, returnWaitMs: 300 },
    { amazonPay: { attemptTimeoutMs: 200, budgetMs: 700 } },
  );
});
afterAll(async () => {
  await h?.close();
});

function advance(ms: number): void {
  clockOffset += ms;
  h.sim.advanceClock(ms);
}

describe('random interleavings (fast-check)', () => {
  it('at most one Complete outcome and one key per session; final state equals Amazon state; no failure shown for a completed session', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async ({ outcomes, initialFaults, actions }) => {
        h.sim.clearFaults();
        const sessions: Array<{ id: string; browser: Browser; shown: Set<Shown>; bindingId: string }> = [];
        for (const outcome of outcomes) {
          const browser = h.browser();
          await browser.startCheckout();
          const bindingId = decodeURIComponent([...browser.cookies.values()][0]!).split('.')[0]!;
          sessions.push({
            id: h.sim.createSession({ outcome }).checkoutSessionId,
            browser,
            shown: new Set(),
            bindingId,
          });
        }
        for (const [i, faults] of initialFaults.entries()) {
          for (const fault of faults)
            h.sim.injectFault({ ...fault, checkoutSessionId: sessions[i]!.id } as FaultSpec);
        }
        const background: Array<Promise<unknown>> = [];
        const checkExactlyOnce = () => {
          for (const { id } of sessions) {
            const stats = h.sim.stats(id);
            // Invariant: Amazon acted at most once per session, and only ever saw one idempotency key.
            expect(stats.completeOutcomes).toBeLessThanOrEqual(1);
            expect(stats.idempotencyKeys.length).toBeLessThanOrEqual(1);
          }
        };

        for (const action of actions) {
          switch (action.t) {
            case 'return': {
              const session = sessions[action.s]!;
              const answers = await Promise.all(
                Array.from({ length: action.tabs }, () => session.browser.returnFromAmazon(session.id)),
              );
              for (const res of answers) session.shown.add(shownByRedirect(res, session.id));
              break;
            }
            case 'return-background': {
              const session = sessions[action.s]!;
              background.push(
                session.browser.returnFromAmazon(session.id).then(
                  (res) => session.shown.add(shownByRedirect(res, session.id)),
                  // A restart may close the socket under it, like a real deploy: not an answer the buyer saw.
                  () => undefined,
                ),
              );
              break;
            }
            case 'json': {
              const session = sessions[action.s]!;
              const res = await session.browser.fetch(
                `/api/amazon-pay/checkout-sessions/${session.id}/complete`,
                {
                  method: 'POST',
                  body: '{}',
                },
              );
              session.shown.add(shownByJson(res));
              break;
            }
            case 'result': {
              const session = sessions[action.s]!;
              const res = await session.browser.fetch(`/checkout/amazon-pay/result/${session.id}`);
              // Before any return the result page sends the buyer to start again, which is not a payment failure.
              if (res.status === 303 && res.location?.includes('error=checkout-restart')) break;
              if (res.status === 303) session.shown.add('failure');
              break;
            }
            case 'fault':
              h.sim.injectFault({ ...action.fault, checkoutSessionId: sessions[action.s]!.id } as FaultSpec);
              break;
            case 'dead-worker': {
              // A worker that claimed the record and died before it called Amazon (its lease must expire first).
              const session = sessions[action.s]!;
              await h.service.store.claim({
                checkoutSessionId: session.id,
                bindingId: session.bindingId,
                owner: 'dead-worker',
                leaseMs: 30_000,
                now: Date.now() + clockOffset,
              });
              break;
            }
            case 'restart':
              await h.restart();
              break;
            case 'reconcile':
              advance(STEP_MS);
              await h.service.reconciler.runOnce();
              break;
          }
          checkExactlyOnce();
        }

        // Quiesce: answers in flight, drives committed, faults gone, then the reconciler until all is decided.
        await Promise.allSettled(background);
        await h.service.completion.waitForInflight();
        h.sim.clearFaults();
        for (let round = 0; round < 5; round += 1) {
          advance(2 * STEP_MS);
          await h.service.reconciler.runOnce();
          const open = await Promise.all(sessions.map(({ id }) => h.service.store.get(id)));
          if (open.every((r) => r === undefined || r.state === 'completed' || r.state === 'failed')) break;
        }
        checkExactlyOnce();

        for (const session of sessions) {
          const record = await h.service.store.get(session.id);
          const amazon = h.sim.stats(session.id);
          if (record) {
            // Invariant: the final state is Amazon's.
            expect(record.state).toBe(amazon.state === 'Completed' ? 'completed' : 'failed');
            expect(['Completed', 'Canceled']).toContain(amazon.state);
            expect(amazon.completeOutcomes).toBe(1);
            expect(amazon.idempotencyKeys).toHaveLength(1);
          } else {
            // Nothing claimed (never returned): Amazon was never asked to complete it.
            expect(amazon.completeOutcomes).toBe(0);
          }
          // Invariant: nobody was shown a failure for a session Amazon completed.
          if (session.shown.has('failure')) expect(amazon.state).not.toBe('Completed');
        }
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
  }, 120_000);
});
