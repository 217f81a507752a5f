// The simulator's API over real HTTP: shapes, states, idempotency, signing checks, clock rules, control API.
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  buildCanonicalRequest,
  formatAmzDate,
  parseAmzDate,
  type SigningAlgorithm,
  stringToSign,
} from '../src/amazon-pay/signing.ts';
import { type Simulator, startSimulator } from '../src/simulator/index.ts';
import { HOUR_MS } from '../src/simulator/sessions.ts';
import { type SignedRequestInit, sendRaw, sendSigned, signRequest } from '../src/simulator/test-support.ts';

const privateKey = createPrivateKey(
  readFileSync(new URL('./fixtures/amazon-test-key-private-pkcs1.pem', import.meta.url)),
);
const publicKey = createPublicKey(
  readFileSync(new URL('./fixtures/amazon-test-key-public.pem', import.meta.url)),
);
const KEY_ID = 'SANDBOX-SIMTESTKEY0001';
const LEGACY_KEY_ID = 'AHLEGACYKEYID0000000001';
const DAY_MS = 24 * HOUR_MS;

// Key set and order of the step-3 source document's example response, plus Amazon's shippingAddressList.
const EXAMPLE_KEYS = [
  'checkoutSessionId',
  'webCheckoutDetails',
  'chargePermissionType',
  'paymentMethodOnFileMetadata',
  'productType',
  'paymentDetails',
  'merchantMetadata',
  'supplementaryData',
  'buyer',
  'billingAddress',
  'statusDetails',
  'shippingAddress',
  'shippingAddressList',
  'platformId',
  'chargePermissionId',
  'chargeId',
  'constraints',
  'creationTimestamp',
  'expirationTimestamp',
  'storeId',
  'deliverySpecifications',
  'providerMetadata',
  'releaseEnvironment',
];

const SOURCE_BILLING = {
  name: 'Work',
  addressLine1: '440 Terry Ave',
  addressLine2: '',
  addressLine3: '',
  city: 'Seattle',
  county: 'King',
  district: 'Seattle',
  stateOrRegion: 'WA',
  postalCode: '98121',
  countryCode: 'US',
  phoneNumber: '800-000-0000',
};
const SOURCE_SHIPPING = {
  name: 'Susie Smith',
  addressLine1: '10 Ditka Ave',
  addressLine2: 'Suite 2500',
  addressLine3: null,
  city: 'Chicago',
  county: null,
  district: null,
  stateOrRegion: 'IL',
  postalCode: '60602',
  countryCode: 'US',
  phoneNumber: '800-000-0000',
};

let sim: Simulator;

beforeEach(async () => {
  sim = await startSimulator({ publicKeys: { [KEY_ID]: publicKey, [LEGACY_KEY_ID]: publicKey } });
});
afterEach(async () => {
  await sim.close();
});

type Extra = Partial<Omit<SignedRequestInit, 'method' | 'path'>> & { prefix?: string };

function complete(id: string, extra: Extra = {}) {
  return sendSigned(sim.url, {
    method: 'POST',
    path: `${extra.prefix ?? ''}/v2/checkoutSessions/${id}/complete`,
    body: '{}',
    privateKey,
    publicKeyId: KEY_ID,
    ...extra,
  });
}

function get(id: string, extra: Extra = {}) {
  return sendSigned(sim.url, {
    method: 'GET',
    path: `${extra.prefix ?? ''}/v2/checkoutSessions/${id}`,
    privateKey,
    publicKeyId: KEY_ID,
    ...extra,
  });
}

// biome-ignore lint/suspicious/noExplicitAny: tests probe parsed JSON bodies freely.
type Json = Record<string, any>;

describe('Complete Checkout Session', () => {
  it('completes an Open session with the step-3 example shape', async () => {
    const { checkoutSessionId: id } = sim.createSession({
      checkoutSessionId: 'bd504926-f659-4ad7-a1a9-9a747aaf5275',
    });
    const res = await complete(id);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.headers['x-amz-pay-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const body = res.json() as Json;
    expect(Object.keys(body)).toEqual(EXAMPLE_KEYS);
    expect(body).toMatchObject({
      checkoutSessionId: id,
      webCheckoutDetails: null,
      chargePermissionType: 'PaymentMethodOnFile',
      paymentMethodOnFileMetadata: null,
      productType: null,
      paymentDetails: null,
      merchantMetadata: null,
      supplementaryData: null,
      buyer: {
        name: 'name-1',
        email: 'name@amazon.com',
        phoneNumber: '800-000-0000',
        primeMembershipTypes: null,
      },
      billingAddress: SOURCE_BILLING,
      statusDetails: { state: 'Completed', reasonCode: null, reasonDescription: null },
      shippingAddress: SOURCE_SHIPPING,
      platformId: null,
      chargeId: null,
      constraints: null,
      expirationTimestamp: null,
      storeId: null,
      deliverySpecifications: null,
      providerMetadata: null,
      releaseEnvironment: null,
    });
    expect(Object.keys(body.buyer)).toEqual([
      'buyerId',
      'name',
      'email',
      'phoneNumber',
      'primeMembershipTypes',
    ]);
    expect(body.buyer.buyerId).toMatch(/^amzn1\.account\./);
    expect(body.chargePermissionId).toMatch(/^B01-\d{7}-\d{7}$/);
    expect(body.creationTimestamp).toMatch(/^\d{8}T\d{6}Z$/);
    expect(body.statusDetails.lastUpdatedTimestamp).toMatch(/^\d{8}T\d{6}Z$/);
    expect(body.shippingAddressList).toHaveLength(1);
    expect(typeof body.shippingAddressList[0]).toBe('string');
    expect(JSON.parse(body.shippingAddressList[0])).toMatchObject(SOURCE_SHIPPING);
    expect(sim.stats(id)).toMatchObject({ completeCalls: 1, completeOutcomes: 1, state: 'Completed' });
  });

  it('gives every session its own chargePermissionId and every answer its own request id', async () => {
    const a = sim.createSession().checkoutSessionId;
    const b = sim.createSession().checkoutSessionId;
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const [ra, rb] = await Promise.all([complete(a), complete(b)]);
    expect((ra.json() as Json).chargePermissionId).not.toBe((rb.json() as Json).chargePermissionId);
    expect(ra.headers['x-amz-pay-request-id']).not.toBe(rb.headers['x-amz-pay-request-id']);
  });

  it('replays the stored answer for the same idempotency key and body, changing nothing', async () => {
    const { checkoutSessionId: id } = sim.createSession();
    const key = 'abcDEF0123456789_-abcdef01234567';
    const first = await complete(id, { headers: { 'x-amz-pay-idempotency-key': key } });
    const second = await complete(id, { headers: { 'x-amz-pay-idempotency-key': key } });
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(second.json()).toEqual(first.json());
    expect(second.headers['x-amz-pay-request-id']).not.toBe(first.headers['x-amz-pay-request-id']);
    expect(sim.stats(id)).toMatchObject({ completeCalls: 2, completeOutcomes: 1, idempotencyKeys: [key] });
  });

  it('answers DuplicateIdempotencyKey for the same key with a different body', async () => {
    const { checkoutSessionId: id } = sim.createSession();
    const headers = { 'x-amz-pay-idempotency-key': 'key-1' };
    expect((await complete(id, { headers })).status).toBe(200);
    const res = await complete(id, {
      headers,
      body: '{"chargeAmount":{"amount":"1.00","currencyCode":"USD"}}',
    });
    expect(res.status).toBe(400);
    expect(res.json()).toMatchObject({ reasonCode: 'DuplicateIdempotencyKey' });
  });

  it('answers 422 InvalidCheckoutSessionStatus for a completed session with a new key or none', async () => {
    const { checkoutSessionId: id } = sim.createSession();
    expect((await complete(id, { headers: { 'x-amz-pay-idempotency-key': 'first' } })).status).toBe(200);
    for (const extra of [{ headers: { 'x-amz-pay-idempotency-key': 'second' } }, {}]) {
      const res = await complete(id, extra);
      expect(res.status).toBe(422);
      expect(res.json()).toEqual({
        reasonCode: 'InvalidCheckoutSessionStatus',
        message:
          'You tried to call an operation on a Checkout Session that is in a state where that operation is not allowed',
      });
    }
    expect(sim.stats(id)).toMatchObject({
      completeCalls: 3,
      completeOutcomes: 1,
      idempotencyKeys: ['first', 'second'],
    });
  });

  it('rejects an idempotency key that is too long or has other characters', async () => {
    const { checkoutSessionId: id } = sim.createSession();
    for (const key of ['a'.repeat(33), 'has.dot', 'spa ce']) {
      const res = await complete(id, { headers: { 'x-amz-pay-idempotency-key': key } });
      expect(res.status).toBe(400);
      expect(res.json()).toMatchObject({ reasonCode: 'InvalidHeaderValue' });
    }
    expect(sim.stats(id)).toMatchObject({ completeOutcomes: 0, state: 'Open' });
  });

  it('refuses a body that is not a JSON object', async () => {
    const { checkoutSessionId: id } = sim.createSession();
    for (const body of ['', '[]', 'nope']) {
      const res = await complete(id, { body });
      expect(res.status).toBe(400);
      expect(res.json()).toMatchObject({ reasonCode: 'InvalidRequestFormat' });
    }
  });

  it.each(['BuyerCanceled', 'Declined', 'AmazonCanceled', 'AmazonRejected', 'ProcessingFailure'] as const)(
    'outcome %s → 422 CheckoutSessionCanceled, Get shows Canceled with the reason',
    async (outcome) => {
      const { checkoutSessionId: id } = sim.createSession({ outcome });
      const headers = { 'x-amz-pay-idempotency-key': 'k1' };
      const res = await complete(id, { headers });
      expect(res.status).toBe(422);
      expect(res.json()).toEqual({
        reasonCode: 'CheckoutSessionCanceled',
        message:
          'Checkout was unsuccessful because the buyer cancelled the transaction or payment was declined',
      });
      const read = (await get(id)).json() as Json;
      expect(read.statusDetails).toMatchObject({ state: 'Canceled', reasonCode: outcome });
      expect(read.statusDetails.reasonDescription).toEqual(expect.any(String));
      expect(read.chargePermissionId).toBeNull();
      // Same key replays the cancel; a new key meets a Canceled session.
      expect((await complete(id, { headers })).json()).toMatchObject({
        reasonCode: 'CheckoutSessionCanceled',
      });
      expect((await complete(id)).json()).toMatchObject({ reasonCode: 'InvalidCheckoutSessionStatus' });
      expect(sim.stats(id)).toMatchObject({ completeOutcomes: 1, state: 'Canceled', reasonCode: outcome });
    },
  );

  it('honours x-amz-pay-simulation-code and rejects unknown codes', async () => {
    const { checkoutSessionId: id } = sim.createSession();
    const bad = await complete(id, { unsignedHeaders: { 'x-amz-pay-simulation-code': 'Bogus' } });
    expect(bad.status).toBe(400);
    expect(bad.json()).toMatchObject({ reasonCode: 'InvalidSandboxSimulationSpecified' });
    expect(sim.stats(id).state).toBe('Open');
    const res = await complete(id, { unsignedHeaders: { 'x-amz-pay-simulation-code': 'Declined' } });
    expect(res.status).toBe(422);
    expect(sim.stats(id)).toMatchObject({ state: 'Canceled', reasonCode: 'Declined' });
    // Signed works too (the Node SDK signs every header).
    const other = sim.createSession().checkoutSessionId;
    const signed = await complete(other, { headers: { 'x-amz-pay-simulation-code': 'AmazonCanceled' } });
    expect(signed.json()).toMatchObject({ reasonCode: 'CheckoutSessionCanceled' });
    expect(sim.stats(other).reasonCode).toBe('AmazonCanceled');
  });

  it('answers 404 ResourceNotFound for unknown ids', async () => {
    for (const res of [await complete('no-such-session'), await get('no-such-session')]) {
      expect(res.status).toBe(404);
      expect(res.json()).toMatchObject({ reasonCode: 'ResourceNotFound' });
    }
    expect(sim.stats('no-such-session')).toMatchObject({ completeCalls: 1, getCalls: 1, state: 'NotFound' });
  });
});

describe('Get Checkout Session and buyer data', () => {
  it('shows an Open session with its expiry and no charge permission', async () => {
    const { checkoutSessionId: id } = sim.createSession();
    const res = await get(id);
    expect(res.status).toBe(200);
    const body = res.json() as Json;
    expect(Object.keys(body)).toEqual(EXAMPLE_KEYS);
    expect(body.statusDetails.state).toBe('Open');
    expect(body.chargePermissionId).toBeNull();
    const created = parseAmzDate(body.creationTimestamp)!.getTime();
    expect(body.expirationTimestamp).toBe(formatAmzDate(new Date(created + DAY_MS)));
    expect(sim.stats(id)).toMatchObject({ getCalls: 1, completeCalls: 0 });
  });

  it('returns only what the scopes allow (name and email when none)', async () => {
    const none = sim.createSession({ scopes: [] }).checkoutSessionId;
    const body = (await complete(none)).json() as Json;
    expect(body.buyer).toMatchObject({ name: 'name-1', email: 'name@amazon.com', phoneNumber: null });
    expect(body.billingAddress).toBeNull();
    expect(body.shippingAddress).toBeNull();
    expect(body.shippingAddressList).toBeNull();

    const postal = sim.createSession({ scopes: ['postalCode'] }).checkoutSessionId;
    const p = (await get(postal)).json() as Json;
    expect(p.buyer).toMatchObject({ name: null, email: null });
    expect(p.shippingAddress).toMatchObject({
      postalCode: '60602',
      countryCode: 'US',
      addressLine1: null,
      name: null,
    });
    expect(p.shippingAddressList).toBeNull();
  });

  it('has test buyers without phone and without billing address', async () => {
    const noPhone = (await get(sim.createSession({ buyer: 'no-phone' }).checkoutSessionId)).json() as Json;
    expect(noPhone.buyer.phoneNumber).toBeNull();
    expect(noPhone.billingAddress.phoneNumber).toBeNull();
    const noBilling = (
      await get(sim.createSession({ buyer: 'no-billing-address' }).checkoutSessionId)
    ).json() as Json;
    expect(noBilling.billingAddress).toBeNull();
    expect(noBilling.shippingAddress).not.toBeNull();
  });

  it('takes custom buyer data', async () => {
    const buyer = {
      buyerId: 'amzn1.account.CUSTOM',
      name: '<script>alert(1)</script>',
      email: 'x@example.com',
      phoneNumber: null,
      billingAddress: null,
      shippingAddress: null,
    };
    const body = (await get(sim.createSession({ buyer }).checkoutSessionId)).json() as Json;
    expect(body.buyer).toMatchObject({ buyerId: 'amzn1.account.CUSTOM', name: '<script>alert(1)</script>' });
  });
});

describe('clock: 24 h expiry and 30-day deletion', () => {
  it('expires an Open session after 24 h and deletes it after 30 days', async () => {
    const { checkoutSessionId: id } = sim.createSession();
    sim.advanceClock(DAY_MS - 1000);
    expect(((await get(id)).json() as Json).statusDetails.state).toBe('Open');
    sim.advanceClock(1000);
    const read = (await get(id)).json() as Json;
    expect(read.statusDetails).toMatchObject({ state: 'Canceled', reasonCode: 'Expired' });
    const res = await complete(id);
    expect(res.status).toBe(422);
    expect(res.json()).toMatchObject({ reasonCode: 'InvalidCheckoutSessionStatus' });
    expect(sim.stats(id)).toMatchObject({ completeOutcomes: 0, state: 'Canceled', reasonCode: 'Expired' });
    sim.advanceClock(29 * DAY_MS);
    const gone = await get(id);
    expect(gone.status).toBe(404);
    expect(gone.json()).toMatchObject({ reasonCode: 'ResourceNotFound' });
    expect(sim.stats(id).state).toBe('Deleted');
  });

  it('keeps a completed session readable until day 30', async () => {
    const { checkoutSessionId: id } = sim.createSession();
    await complete(id);
    sim.advanceClock(29 * DAY_MS);
    expect(((await get(id)).json() as Json).statusDetails.state).toBe('Completed');
    sim.advanceClock(DAY_MS);
    expect((await get(id)).status).toBe(404);
  });

  it('accepts createdAt in the past', async () => {
    const { checkoutSessionId: id } = sim.createSession({ createdAt: sim.now() - 25 * HOUR_MS });
    expect(((await get(id)).json() as Json).statusDetails.reasonCode).toBe('Expired');
  });

  it('uses an injected clock for both the session clock and the date check', async () => {
    const fixed = Date.UTC(2024, 4, 1, 12, 34, 56);
    const local = await startSimulator({
      publicKeys: { [KEY_ID]: publicKey },
      now: () => fixed,
      controlApi: false,
    });
    try {
      const { checkoutSessionId: id } = local.createSession();
      const ok = await sendSigned(local.url, {
        method: 'POST',
        path: `/v2/checkoutSessions/${id}/complete`,
        body: '{}',
        privateKey,
        publicKeyId: KEY_ID,
        date: '20240501T123456Z',
      });
      expect(ok.status).toBe(200);
      expect((ok.json() as Json).creationTimestamp).toBe('20240501T123456Z');
      const stale = await sendSigned(local.url, {
        method: 'GET',
        path: `/v2/checkoutSessions/${id}`,
        privateKey,
        publicKeyId: KEY_ID,
      });
      expect(stale.status).toBe(400);
    } finally {
      await local.close();
    }
  });
});

describe('request signing', () => {
  const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;

  it('answers 403 InvalidRequestSignature echoing the string-to-sign for a wrong key', async () => {
    const { checkoutSessionId: id } = sim.createSession();
    const date = formatAmzDate(new Date());
    const res = await complete(id, { privateKey: otherKey, date });
    expect(res.status).toBe(403);
    const body = res.json() as Json;
    expect(body.reasonCode).toBe('InvalidRequestSignature');
    const headers = {
      accept: 'application/json',
      'content-type': 'application/json',
      'x-amz-pay-date': date,
      'x-amz-pay-host': 'pay-api.amazon.com',
      'x-amz-pay-region': 'na',
    };
    const expected = stringToSign(
      'AMZN-PAY-RSASSA-PSS-V2',
      buildCanonicalRequest({
        method: 'POST',
        path: `/v2/checkoutSessions/${id}/complete`,
        headers,
        payload: '{}',
      }).text,
    );
    expect(body.message).toMatch(/^Unable to verify signature, signing String \[.*\] , signature \[.+\]$/s);
    expect(body.message).toContain(`[${expected}]`);
    expect(sim.stats(id)).toMatchObject({ completeCalls: 0, state: 'Open' });
  });

  it('rejects a tampered body', async () => {
    const { checkoutSessionId: id } = sim.createSession();
    const headers = signRequest({
      method: 'POST',
      path: `/v2/checkoutSessions/${id}/complete`,
      body: '{}',
      privateKey,
      publicKeyId: KEY_ID,
    });
    const res = await sendRaw(sim.url, {
      method: 'POST',
      path: `/v2/checkoutSessions/${id}/complete`,
      headers,
      body: '{ }',
    });
    expect(res.status).toBe(403);
    expect(res.json()).toMatchObject({ reasonCode: 'InvalidRequestSignature' });
  });

  it('rejects a tampered or missing signed header, tolerates unsigned extras', async () => {
    const { checkoutSessionId: id } = sim.createSession();
    const path = `/v2/checkoutSessions/${id}`;
    const headers = signRequest({ method: 'GET', path, privateKey, publicKeyId: KEY_ID });
    const tampered = await sendRaw(sim.url, {
      method: 'GET',
      path,
      headers: { ...headers, 'x-amz-pay-region': 'eu' },
    });
    expect(tampered.status).toBe(403);
    expect(tampered.json()).toMatchObject({ reasonCode: 'InvalidRequestSignature' });
    const { 'x-amz-pay-host': _, ...withoutHost } = headers;
    const missing = await sendRaw(sim.url, { method: 'GET', path, headers: withoutHost });
    expect(missing.status).toBe(403);
    expect(missing.json()).toMatchObject({ reasonCode: 'InvalidRequestSignature' });
    const extras = await sendRaw(sim.url, {
      method: 'GET',
      path,
      headers: { ...headers, 'x-amz-pay-sdk-type': 'PHP', 'user-agent': 'x' },
    });
    expect(extras.status).toBe(200);
  });

  it('rejects a V1 signature presented as V2 and accepts a real V1 signature', async () => {
    const { checkoutSessionId: id } = sim.createSession();
    const path = `/v2/checkoutSessions/${id}`;
    const v1 = signRequest({
      method: 'GET',
      path,
      privateKey,
      publicKeyId: KEY_ID,
      algorithm: 'AMZN-PAY-RSASSA-PSS',
    });
    expect((await sendRaw(sim.url, { method: 'GET', path, headers: v1 })).status).toBe(200);
    const relabelled = {
      ...v1,
      authorization: v1.authorization!.replace('AMZN-PAY-RSASSA-PSS ', 'AMZN-PAY-RSASSA-PSS-V2 '),
    };
    expect((await sendRaw(sim.url, { method: 'GET', path, headers: relabelled })).status).toBe(403);
  });

  it('answers MissingHeader, InvalidHeaderValue and InvalidAuthentication for bad authorization headers', async () => {
    const { checkoutSessionId: id } = sim.createSession();
    const path = `/v2/checkoutSessions/${id}`;
    const headers = signRequest({ method: 'GET', path, privateKey, publicKeyId: KEY_ID });
    const { authorization, ...unsigned } = headers;
    const missing = await sendRaw(sim.url, { method: 'GET', path, headers: unsigned });
    expect([missing.status, (missing.json() as Json).reasonCode]).toEqual([400, 'MissingHeader']);
    const malformed = await sendRaw(sim.url, {
      method: 'GET',
      path,
      headers: { ...unsigned, authorization: 'Bearer x' },
    });
    expect([malformed.status, (malformed.json() as Json).reasonCode]).toEqual([400, 'InvalidHeaderValue']);
    const unknownAlg = await sendRaw(sim.url, {
      method: 'GET',
      path,
      headers: { ...unsigned, authorization: authorization!.replace(/^\S+/, 'HMAC-SHA256') },
    });
    expect(unknownAlg.status).toBe(400);
    const otherId = await sendRaw(sim.url, {
      method: 'GET',
      path,
      headers: { ...unsigned, authorization: authorization!.replace(KEY_ID, 'SANDBOX-UNKNOWN') },
    });
    expect([otherId.status, (otherId.json() as Json).reasonCode]).toEqual([403, 'InvalidAuthentication']);
  });

  it('requires x-amz-pay-date to be present and signed', async () => {
    const { checkoutSessionId: id } = sim.createSession();
    const path = `/v2/checkoutSessions/${id}`;
    const { 'x-amz-pay-date': date, ...rest } = signRequest({
      method: 'GET',
      path,
      privateKey,
      publicKeyId: KEY_ID,
    });
    const absent = await sendRaw(sim.url, { method: 'GET', path, headers: rest });
    expect([absent.status, (absent.json() as Json).reasonCode]).toEqual([400, 'MissingHeader']);
    // Signed without the date, the date sent alongside unsigned.
    const canonical = buildCanonicalRequest({
      method: 'GET',
      path,
      headers: { accept: 'application/json' },
      payload: '',
    });
    const headers = signRequest({ method: 'GET', path, privateKey, publicKeyId: KEY_ID });
    headers.authorization = headers.authorization!.replace(
      /SignedHeaders=[^,]+/,
      `SignedHeaders=${canonical.signedHeaders}`,
    );
    const unsignedDate = await sendRaw(sim.url, {
      method: 'GET',
      path,
      headers: { ...headers, 'x-amz-pay-date': date! },
    });
    expect([unsignedDate.status, (unsignedDate.json() as Json).reasonCode]).toEqual([
      403,
      'InvalidRequestSignature',
    ]);
  });

  it('rejects stale, future and malformed dates with 400 InvalidHeaderValue', async () => {
    const { checkoutSessionId: id } = sim.createSession();
    const stale = await get(id, { date: new Date(Date.now() - 16 * 60_000) });
    expect([stale.status, (stale.json() as Json).reasonCode]).toEqual([400, 'InvalidHeaderValue']);
    const futureDate = formatAmzDate(new Date(Date.now() + 5 * 60_000));
    const future = await get(id, { date: futureDate });
    expect(future.status).toBe(400);
    expect(future.json()).toEqual({
      reasonCode: 'InvalidHeaderValue',
      message: `The value ${futureDate} provided for x-amz-pay-date should not be in future`,
    });
    const garbage = await get(id, { date: '2024-13-45' });
    expect([garbage.status, (garbage.json() as Json).reasonCode]).toEqual([400, 'InvalidHeaderValue']);
    // Within the windows: 14 min old, 30 s ahead, and the Node SDK's extended format.
    expect((await get(id, { date: new Date(Date.now() - 14 * 60_000) })).status).toBe(200);
    expect((await get(id, { date: new Date(Date.now() + 30_000) })).status).toBe(200);
    expect((await get(id, { date: `${new Date().toISOString().split('.')[0]}Z` })).status).toBe(200);
    expect(sim.stats(id).getCalls).toBe(3);
  });

  it('honours maxClockSkewMs', async () => {
    const strict = await startSimulator({ publicKeys: { [KEY_ID]: publicKey }, maxClockSkewMs: 1000 });
    try {
      const { checkoutSessionId: id } = strict.createSession();
      const res = await sendSigned(strict.url, {
        method: 'GET',
        path: `/v2/checkoutSessions/${id}`,
        privateKey,
        publicKeyId: KEY_ID,
        date: new Date(Date.now() - 5000),
      });
      expect(res.status).toBe(400);
    } finally {
      await strict.close();
    }
  });
});

describe('routes', () => {
  it('accepts /sandbox and /live prefixes (legacy key ids)', async () => {
    for (const prefix of ['/sandbox', '/live']) {
      const { checkoutSessionId: id } = sim.createSession();
      expect((await complete(id, { prefix, publicKeyId: LEGACY_KEY_ID })).status).toBe(200);
      expect((await get(id, { prefix, publicKeyId: LEGACY_KEY_ID })).status).toBe(200);
    }
  });

  it('tolerates one trailing slash when it was signed (the .NET SDK)', async () => {
    const { checkoutSessionId: id } = sim.createSession();
    const path = `/v2/checkoutSessions/${id}/complete/`;
    const res = await sendSigned(sim.url, {
      method: 'POST',
      path,
      body: '{}',
      privateKey,
      publicKeyId: KEY_ID,
    });
    expect(res.status).toBe(200);
    // Signed without the slash, sent with it: the signature covers the path as sent.
    const other = sim.createSession().checkoutSessionId;
    const headers = signRequest({
      method: 'GET',
      path: `/v2/checkoutSessions/${other}`,
      privateKey,
      publicKeyId: KEY_ID,
    });
    const mismatch = await sendRaw(sim.url, {
      method: 'GET',
      path: `/v2/checkoutSessions/${other}/`,
      headers,
    });
    expect(mismatch.status).toBe(403);
  });

  it('answers unknown routes and methods with Amazon-style JSON, never HTML', async () => {
    for (const path of ['/', '/v2/charges/abc', '/v2/checkoutSessions/a/b/c', '/index.html']) {
      const res = await sendRaw(sim.url, { method: 'GET', path, headers: {} });
      expect(res.status).toBe(404);
      expect(res.headers['content-type']).toBe('application/json');
      expect(res.json()).toMatchObject({ reasonCode: 'ResourceNotFound', message: expect.any(String) });
      expect(res.headers['x-amz-pay-request-id']).toBeTruthy();
    }
    const wrong = await sendRaw(sim.url, {
      method: 'GET',
      path: '/v2/checkoutSessions/abc/complete',
      headers: {},
    });
    expect([wrong.status, (wrong.json() as Json).reasonCode]).toEqual([405, 'UnsupportedOperation']);
  });
});

describe('official Node SDK', () => {
  const require = createRequire(import.meta.url);
  interface SdkClient {
    getSignedHeaders(options: {
      method: string;
      urlFragment: string;
      payload?: unknown;
      headers?: Record<string, string>;
    }): Record<string, string>;
  }
  const { WebStoreClient } = require('@amazonpay/amazon-pay-api-sdk-nodejs') as {
    WebStoreClient: new (config: Record<string, unknown>) => SdkClient;
  };

  // The SDK only signs here; we send its headers ourselves so it never talks to Amazon.
  it.each(['AMZN-PAY-RSASSA-PSS', 'AMZN-PAY-RSASSA-PSS-V2'] as SigningAlgorithm[])(
    'accepts Complete and Get signed by the SDK (%s, signs user-agent, extended date)',
    async (algorithm) => {
      const client = new WebStoreClient({
        publicKeyId: KEY_ID,
        privateKey: readFileSync(new URL('./fixtures/amazon-test-key-private-pkcs1.pem', import.meta.url)),
        region: 'us',
        sandbox: true,
        algorithm,
      });
      const { checkoutSessionId: id } = sim.createSession();
      const options = {
        method: 'POST',
        urlFragment: `checkoutSessions/${id}/complete`,
        payload: {},
        headers: { 'x-amz-pay-idempotency-key': 'sdk-key-1' },
      };
      const headers = client.getSignedHeaders(options);
      expect(headers.authorization).toContain('user-agent');
      expect(headers['x-amz-pay-date']).toMatch(/^\d{4}-\d{2}-\d{2}T/);
      const res = await sendRaw(sim.url, {
        method: 'POST',
        path: `/${options.urlFragment}`,
        headers,
        body: '{}',
      });
      expect(res.status).toBe(200);
      const getOptions = { method: 'GET', urlFragment: `checkoutSessions/${id}` };
      const getHeaders = client.getSignedHeaders(getOptions);
      const read = await sendRaw(sim.url, {
        method: 'GET',
        path: `/${getOptions.urlFragment}`,
        headers: getHeaders,
      });
      expect(read.status).toBe(200);
      expect(sim.stats(id)).toMatchObject({ completeOutcomes: 1, idempotencyKeys: ['sdk-key-1'] });
    },
  );
});

describe('control API', () => {
  async function call(method: string, path: string, body?: unknown) {
    const res = await sendRaw(sim.url, {
      method,
      path,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: res.json() as Json };
  }

  it('creates sessions, queues and clears faults, reports stats and totals, moves the clock', async () => {
    const created = await call('POST', '/__sim/sessions', {
      outcome: 'success',
      buyer: 'no-phone',
      scopes: ['name'],
    });
    expect(created.status).toBe(201);
    const id = created.body.checkoutSessionId as string;
    expect(sim.stats(id).state).toBe('Open');

    expect(
      (await call('POST', '/__sim/faults', { kind: 'status', status: 503, operation: 'get' })).status,
    ).toBe(201);
    expect((await get(id)).status).toBe(503);
    expect((await call('POST', '/__sim/faults', [{ kind: 'status', status: 500 }])).body).toEqual({
      queued: 1,
    });
    expect((await call('DELETE', '/__sim/faults')).status).toBe(200);
    expect((await get(id)).status).toBe(200);

    expect((await complete(id)).status).toBe(200);
    const stats = await call('GET', `/__sim/sessions/${id}/stats`);
    expect(stats.body).toMatchObject({
      completeCalls: 1,
      getCalls: 2,
      completeOutcomes: 1,
      state: 'Completed',
    });

    const before = sim.now();
    const clock = await call('POST', '/__sim/clock', { advanceMs: 31 * DAY_MS });
    expect(clock.status).toBe(200);
    expect(Date.parse(clock.body.now as string)).toBeGreaterThanOrEqual(before + 31 * DAY_MS - 10);
    expect((await get(id)).status).toBe(404);

    const totals = await call('GET', '/__sim/totals');
    expect(totals.body).toMatchObject({ completeCalls: 1, getCalls: 3 });
    expect(totals.body.connections).toBeGreaterThan(0);
  });

  it('validates its input', async () => {
    expect((await call('POST', '/__sim/sessions', { outcome: 'Nope' })).status).toBe(400);
    expect((await call('POST', '/__sim/faults', { kind: 'explode' })).status).toBe(400);
    expect((await call('POST', '/__sim/clock', {})).status).toBe(400);
    expect((await call('GET', '/__sim/nothing')).status).toBe(404);
    sim.createSession({ checkoutSessionId: 'dup-1' });
    const dup = await call('POST', '/__sim/sessions', { checkoutSessionId: 'dup-1' });
    expect(dup.status).toBe(400);
  });

  it('is absent when controlApi is false, and the simulator refuses production', async () => {
    const closed = await startSimulator({ publicKeys: { [KEY_ID]: publicKey }, controlApi: false });
    try {
      const res = await sendRaw(closed.url, { method: 'GET', path: '/__sim/totals', headers: {} });
      expect(res.status).toBe(404);
    } finally {
      await closed.close();
    }
    const previous = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      await expect(startSimulator({ publicKeys: {} })).rejects.toThrow(/production/);
    } finally {
      if (previous === undefined) delete process.env.NODE_ENV;
      else process.env.NODE_ENV = previous;
    }
  });

  it('counts TCP connections', async () => {
    const before = sim.totals().connections;
    await sendRaw(sim.url, { method: 'GET', path: '/__sim/totals', headers: { connection: 'close' } });
    expect(sim.totals().connections).toBeGreaterThan(before);
  });
});
