// The simulator's injected faults: what a client observes on the wire and whether the session changed state.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../src/simulator/index.ts';
import { sendSigned, signRequest } from '../src/simulator/test-support.ts';

const privateKey = createPrivateKey(
  readFileSync(new URL('./fixtures/amazon-test-key-private-pkcs1.pem', import.meta.url)),
);
const publicKey = createPublicKey(
  readFileSync(new URL('./fixtures/amazon-test-key-public.pem', import.meta.url)),
);
const KEY_ID = 'SANDBOX-SIMTESTKEY0001';
const IDEMPOTENCY = { 'x-amz-pay-idempotency-key': 'fault-test-key' };

// biome-ignore lint/suspicious/noExplicitAny: tests probe parsed JSON bodies freely.
type Json = Record<string, any>;

let sim: Simulator;
beforeEach(async () => {
  sim = await startSimulator({ publicKeys: { [KEY_ID]: publicKey } });
});
afterEach(async () => {
  await sim.close();
});

function complete(id: string, headers: Record<string, string> = IDEMPOTENCY) {
  return sendSigned(sim.url, {
    method: 'POST',
    path: `/v2/checkoutSessions/${id}/complete`,
    body: '{}',
    privateKey,
    publicKeyId: KEY_ID,
    headers,
  });
}

function get(id: string) {
  return sendSigned(sim.url, {
    method: 'GET',
    path: `/v2/checkoutSessions/${id}`,
    privateKey,
    publicKeyId: KEY_ID,
  });
}

/** A raw Complete with undici, so a test can watch headers and body separately or abort. */
function rawComplete(id: string, signal?: AbortSignal) {
  const path = `/v2/checkoutSessions/${id}/complete`;
  return request(`${sim.url}${path}`, {
    method: 'POST',
    body: '{}',
    headers: signRequest({
      method: 'POST',
      path,
      body: '{}',
      privateKey,
      publicKeyId: KEY_ID,
      headers: IDEMPOTENCY,
    }),
    ...(signal ? { signal } : {}),
  });
}

async function stateOf(id: string): Promise<string> {
  return ((await get(id)).json() as Json).statusDetails.state;
}

describe('faults', () => {
  it('latency delays the answer, then processes normally', async () => {
    const { checkoutSessionId: id } = sim.createSession();
    sim.injectFault({ kind: 'latency', ms: 150 });
    const started = performance.now();
    const res = await complete(id);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    expect(res.status).toBe(200);
  });

  it('status without processFirst answers the error and changes nothing; the retry completes', async () => {
    const { checkoutSessionId: id } = sim.createSession();
    sim.injectFault({ kind: 'status', status: 503, operation: 'complete', retryAfterSeconds: 2 });
    const res = await complete(id);
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('2');
    expect(res.json()).toMatchObject({ reasonCode: 'ServiceUnavailable', message: expect.any(String) });
    expect(await stateOf(id)).toBe('Open');
    expect((await complete(id)).status).toBe(200);
    expect(sim.stats(id)).toMatchObject({ completeCalls: 2, completeOutcomes: 1 });
  });

  it('status with processFirst is ambiguous: completed behind the 500, the same key replays the success', async () => {
    const { checkoutSessionId: id } = sim.createSession();
    sim.injectFault({ kind: 'status', status: 500, processFirst: true });
    const res = await complete(id);
    expect(res.status).toBe(500);
    expect(res.json()).toMatchObject({ reasonCode: 'InternalServerError' });
    expect(await stateOf(id)).toBe('Completed');
    const retry = await complete(id);
    expect(retry.status).toBe(200);
    expect((retry.json() as Json).chargePermissionId).toBe(sim.stats(id).chargePermissionId);
    expect(sim.stats(id).completeOutcomes).toBe(1);
  });

  it('status takes a custom reasonCode (429 TooManyRequests)', async () => {
    const { checkoutSessionId: id } = sim.createSession();
    sim.injectFault({ kind: 'status', status: 429, reasonCode: 'TooManyRequests', operation: 'get' });
    const res = await get(id);
    expect([res.status, (res.json() as Json).reasonCode]).toEqual([429, 'TooManyRequests']);
  });

  it('reset destroys the connection after processing by default', async () => {
    const { checkoutSessionId: id } = sim.createSession();
    sim.injectFault({ kind: 'reset' });
    await expect(complete(id)).rejects.toThrow();
    expect(await stateOf(id)).toBe('Completed');
    expect(sim.stats(id).completeOutcomes).toBe(1);
  });

  it('reset with processFirst false leaves the session Open', async () => {
    const { checkoutSessionId: id } = sim.createSession();
    sim.injectFault({ kind: 'reset', processFirst: false });
    await expect(complete(id)).rejects.toThrow();
    expect(await stateOf(id)).toBe('Open');
  });

  it('truncated-body sends full headers and half the body, then closes', async () => {
    const { checkoutSessionId: id } = sim.createSession();
    sim.injectFault({ kind: 'truncated-body' });
    const res = await rawComplete(id);
    expect(res.statusCode).toBe(200);
    expect(Number(res.headers['content-length'])).toBeGreaterThan(100);
    await expect(res.body.text()).rejects.toThrow();
    expect(await stateOf(id)).toBe('Completed');
  });

  it('slow-body trickles a complete, valid body over the duration', async () => {
    const { checkoutSessionId: id } = sim.createSession();
    sim.injectFault({ kind: 'slow-body', durationMs: 300 });
    const started = performance.now();
    const res = await rawComplete(id);
    const headersAt = performance.now() - started;
    const body = (await res.body.json()) as Json;
    expect(headersAt).toBeLessThan(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
    expect(body.statusDetails.state).toBe('Completed');
  });

  it('slow-headers has already completed the session while the answer is held back', async () => {
    const { checkoutSessionId: id } = sim.createSession();
    sim.injectFault({ kind: 'slow-headers', ms: 300 });
    const started = performance.now();
    const pending = rawComplete(id);
    await new Promise((r) => setTimeout(r, 100));
    expect(await stateOf(id)).toBe('Completed');
    const res = await pending;
    expect(performance.now() - started).toBeGreaterThanOrEqual(280);
    expect(res.statusCode).toBe(200);
    expect(((await res.body.json()) as Json).statusDetails.state).toBe('Completed');
  });

  it('hang processes and never answers; close() still returns promptly', async () => {
    const { checkoutSessionId: id } = sim.createSession();
    sim.injectFault({ kind: 'hang' });
    await expect(rawComplete(id, AbortSignal.timeout(200))).rejects.toThrow();
    expect(await stateOf(id)).toBe('Completed');
    // A second hang still open when the simulator closes.
    sim.injectFault({ kind: 'hang', processFirst: false, operation: 'get' });
    const hanging = get(id);
    await new Promise((r) => setTimeout(r, 50));
    const started = performance.now();
    await sim.close();
    expect(performance.now() - started).toBeLessThan(500);
    await expect(hanging).rejects.toThrow();
  });

  it('invalid-json answers 200 with a broken body after processing', async () => {
    const { checkoutSessionId: id } = sim.createSession();
    sim.injectFault({ kind: 'invalid-json' });
    const res = await complete(id);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(() => res.json()).toThrow();
    expect(await stateOf(id)).toBe('Completed');
  });

  it('unexpected-state answers 200 with an odd statusDetails.state', async () => {
    const { checkoutSessionId: id } = sim.createSession();
    sim.injectFault({ kind: 'unexpected-state', state: 'Pending' });
    const res = await complete(id);
    expect(res.status).toBe(200);
    expect((res.json() as Json).statusDetails.state).toBe('Pending');
    expect(await stateOf(id)).toBe('Completed');
  });
});

describe('fault matching', () => {
  it('consumes faults FIFO, by operation and session, `times` times', async () => {
    const a = sim.createSession().checkoutSessionId;
    const b = sim.createSession().checkoutSessionId;
    sim.injectFault({ kind: 'status', status: 500, checkoutSessionId: b, times: 2 });
    sim.injectFault({ kind: 'status', status: 502, operation: 'get' });
    sim.injectFault({ kind: 'status', status: 503 });
    expect((await get(a)).status).toBe(502); // the b-only fault is skipped, the get fault taken
    expect((await complete(a)).status).toBe(503);
    expect((await complete(a)).status).toBe(200);
    expect((await get(b)).status).toBe(500);
    expect((await get(b)).status).toBe(500);
    expect((await get(b)).status).toBe(200);
  });

  it('is not consumed by requests that fail signature verification', async () => {
    const { checkoutSessionId: id } = sim.createSession();
    sim.injectFault({ kind: 'status', status: 503 });
    const bad = await sendSigned(sim.url, {
      method: 'GET',
      path: `/v2/checkoutSessions/${id}`,
      privateKey,
      publicKeyId: KEY_ID,
      date: new Date(Date.now() + 3_600_000),
    });
    expect(bad.status).toBe(400);
    expect((await get(id)).status).toBe(503);
  });

  it('clearFaults empties the queue', async () => {
    const { checkoutSessionId: id } = sim.createSession();
    sim.injectFault({ kind: 'status', status: 503, times: 5 });
    sim.clearFaults();
    expect((await get(id)).status).toBe(200);
  });

  it('rejects malformed fault specs', () => {
    expect(() => sim.injectFault({ kind: 'status', status: 200 } as never)).toThrow();
    expect(() => sim.injectFault({ kind: 'nope' } as never)).toThrow();
  });

  it('applies the base latency to every API call', async () => {
    const slow = await startSimulator({
      publicKeys: { [KEY_ID]: publicKey },
      latencyMs: { meanMs: 100, jitterMs: 20 },
    });
    try {
      const { checkoutSessionId: id } = slow.createSession();
      const started = performance.now();
      const res = await sendSigned(slow.url, {
        method: 'GET',
        path: `/v2/checkoutSessions/${id}`,
        privateKey,
        publicKeyId: KEY_ID,
      });
      expect(res.status).toBe(200);
      expect(performance.now() - started).toBeGreaterThanOrEqual(75);
    } finally {
      await slow.close();
    }
  });
});
