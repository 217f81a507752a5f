// Cross-check with the official Node SDK: what it signs must verify against the string-to-sign our canonicalisation builds.
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadPrivateKey } from '../src/amazon-pay/keys.ts';
import {
  buildCanonicalRequest,
  buttonStringToSign,
  type CanonicalRequestInput,
  parseAmzDate,
  parseAuthorization,
  type SigningAlgorithm,
  stringToSign,
  verifyString,
} from '../src/amazon-pay/signing.ts';

interface SdkOptions {
  method: string;
  urlFragment: string;
  payload?: unknown;
  headers?: Record<string, string>;
  queryParams?: Record<string, string>;
}
interface SdkClient {
  getSignedHeaders(options: SdkOptions): Record<string, string>;
  generateButtonSignature(payload: string | object): string;
}
interface SdkConfig {
  publicKeyId: string;
  privateKey: unknown;
  region: string;
  sandbox: boolean;
  algorithm?: SigningAlgorithm;
}

const require = createRequire(import.meta.url);
const sdkEntry = require.resolve('@amazonpay/amazon-pay-api-sdk-nodejs');
const { WebStoreClient } = require(sdkEntry) as { WebStoreClient: new (config: SdkConfig) => SdkClient };
// The SDK's own axios instance: the one its helper would call if anything tried to reach the network.
const sdkAxios = createRequire(sdkEntry)('axios') as { request: (...args: unknown[]) => unknown };

const privatePem = readFileSync(
  new URL('./fixtures/amazon-test-key-private-pkcs1.pem', import.meta.url),
  'utf8',
);
const publicKey = createPublicKey(
  readFileSync(new URL('./fixtures/amazon-test-key-public.pem', import.meta.url)),
);
const checkoutSessionId = 'bd504926-f659-4ad7-a1a9-9a747aaf5275';

let networkAttempt: ReturnType<typeof vi.spyOn>;
beforeAll(() => {
  networkAttempt = vi.spyOn(sdkAxios, 'request').mockImplementation(() => {
    throw new Error('the SDK must not make network calls in this test');
  });
});
afterAll(() => {
  expect(networkAttempt).not.toHaveBeenCalled();
  networkAttempt.mockRestore();
});

function sdkClient(overrides: Partial<SdkConfig> = {}): SdkClient {
  return new WebStoreClient({
    publicKeyId: 'SANDBOX-AHEGSJCM3GXNK7EY2VWPZ2NA',
    privateKey: privatePem,
    region: 'us',
    sandbox: true,
    algorithm: 'AMZN-PAY-RSASSA-PSS-V2',
    ...overrides,
  });
}

/** Rebuilds the request from what the SDK signed and checks its signature against our string-to-sign. */
function crossCheck(
  headers: Record<string, string>,
  request: Omit<CanonicalRequestInput, 'headers'>,
  algorithm: SigningAlgorithm,
) {
  const auth = parseAuthorization(headers.authorization ?? '');
  expect(auth).toBeDefined();
  expect(auth!.algorithm).toBe(algorithm);
  const signedHeaders = Object.fromEntries(auth!.signedHeaders.map((name) => [name, headers[name] ?? '']));
  const ours = buildCanonicalRequest({ ...request, headers: signedHeaders });
  expect(ours.signedHeaders).toBe(auth!.signedHeaders.join(';'));
  const text = stringToSign(algorithm, ours.text);
  expect(verifyString(text, auth!.signature, publicKey, algorithm)).toBe(true);
  return { auth: auth!, text, signedHeaders, ours };
}

describe('official SDK signatures verify against our canonical request', () => {
  it('Complete Checkout Session with an environment-specific key id (V2, body {}, idempotency key)', () => {
    const headers = sdkClient().getSignedHeaders({
      method: 'POST',
      urlFragment: `checkoutSessions/${checkoutSessionId}/complete`,
      payload: {},
      headers: { 'x-amz-pay-idempotency-key': 'cs-bd504926f6594ad7a1a99a747aaf' },
    });
    // The SDK's header set: user-agent is signed, the date is in extended format.
    expect(headers['user-agent']).toMatch(/^amazon-pay-api-sdk-nodejs\//);
    expect(headers['x-amz-pay-date']).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(parseAmzDate(headers['x-amz-pay-date']!)).toBeInstanceOf(Date);
    expect(headers['x-amz-pay-host']).toBe('pay-api.amazon.com');
    expect(headers['x-amz-pay-region']).toBe('na');
    const { auth, text, signedHeaders } = crossCheck(
      headers,
      { method: 'POST', path: `/v2/checkoutSessions/${checkoutSessionId}/complete`, payload: '{}' },
      'AMZN-PAY-RSASSA-PSS-V2',
    );
    expect(auth.publicKeyId).toBe('SANDBOX-AHEGSJCM3GXNK7EY2VWPZ2NA');
    expect(auth.signedHeaders).toEqual([
      'accept',
      'content-type',
      'user-agent',
      'x-amz-pay-date',
      'x-amz-pay-host',
      'x-amz-pay-idempotency-key',
      'x-amz-pay-region',
    ]);

    // Not vacuous: any change to what was signed breaks verification.
    const tampered = buildCanonicalRequest({
      method: 'POST',
      path: `/v2/checkoutSessions/${checkoutSessionId}/complete`,
      headers: { ...signedHeaders, 'x-amz-pay-date': '2000-01-01T00:00:00Z' },
      payload: '{}',
    });
    expect(
      verifyString(
        stringToSign('AMZN-PAY-RSASSA-PSS-V2', tampered.text),
        auth.signature,
        publicKey,
        'AMZN-PAY-RSASSA-PSS-V2',
      ),
    ).toBe(false);
    const otherBody = buildCanonicalRequest({
      method: 'POST',
      path: `/v2/checkoutSessions/${checkoutSessionId}/complete`,
      headers: signedHeaders,
      payload: '',
    });
    expect(
      verifyString(
        stringToSign('AMZN-PAY-RSASSA-PSS-V2', otherBody.text),
        auth.signature,
        publicKey,
        'AMZN-PAY-RSASSA-PSS-V2',
      ),
    ).toBe(false);
    expect(verifyString(text, auth.signature, publicKey, 'AMZN-PAY-RSASSA-PSS')).toBe(false);
  });

  it('Get Checkout Session with a legacy key id on the sandbox path (no body)', () => {
    const headers = sdkClient({ publicKeyId: 'AHEGSJCM3GXNK7EY2VWPZ2NA', region: 'de' }).getSignedHeaders({
      method: 'GET',
      urlFragment: `checkoutSessions/${checkoutSessionId}`,
    });
    expect(headers['x-amz-pay-host']).toBe('pay-api.amazon.eu');
    expect(headers['x-amz-pay-region']).toBe('eu');
    crossCheck(
      headers,
      { method: 'GET', path: `/sandbox/v2/checkoutSessions/${checkoutSessionId}`, payload: '' },
      'AMZN-PAY-RSASSA-PSS-V2',
    );
  });

  it('live legacy path, a query string and the older AMZN-PAY-RSASSA-PSS algorithm', () => {
    const headers = sdkClient({
      publicKeyId: 'AHEGSJCM3GXNK7EY2VWPZ2NA',
      sandbox: false,
      region: 'jp',
      algorithm: 'AMZN-PAY-RSASSA-PSS',
    }).getSignedHeaders({
      method: 'GET',
      urlFragment: 'chargePermissions',
      queryParams: { merchantId: 'A2BCDEFGHIJ3KL', status: 'Chargeable' },
    });
    crossCheck(
      headers,
      {
        method: 'GET',
        path: '/live/v2/chargePermissions',
        query: { merchantId: 'A2BCDEFGHIJ3KL', status: 'Chargeable' },
        payload: '',
      },
      'AMZN-PAY-RSASSA-PSS',
    );
  });

  it('a key loaded by our loader (from an escaped one-line PEM) works in the SDK too', () => {
    const key = loadPrivateKey(privatePem.replace(/\n/g, '\\n'));
    const payload = '{"chargeAmount":{"amount":"14.00","currencyCode":"USD"}}';
    const headers = sdkClient({
      privateKey: key,
      publicKeyId: 'LIVE-AHEGSJCM3GXNK7EY2VWPZ2NA',
    }).getSignedHeaders({
      method: 'POST',
      urlFragment: `checkoutSessions/${checkoutSessionId}/complete`,
      payload,
    });
    crossCheck(
      headers,
      { method: 'POST', path: `/v2/checkoutSessions/${checkoutSessionId}/complete`, payload },
      'AMZN-PAY-RSASSA-PSS-V2',
    );
  });
});

describe('official SDK button signatures verify against our button string-to-sign', () => {
  const payloadJson = JSON.stringify({
    webCheckoutDetails: {
      signInReturnUrl: 'https://shop.example/checkout/amazon-pay/return',
      signInCancelUrl: 'https://shop.example/checkout',
    },
    storeId: 'amzn1.application-oa2-client.0123456789abcdef0123456789abcdef',
    signInScopes: ['name', 'email', 'phoneNumber', 'billingAddress'],
    chargePermissionType: 'PaymentMethodOnFile',
  });

  for (const algorithm of ['AMZN-PAY-RSASSA-PSS-V2', 'AMZN-PAY-RSASSA-PSS'] as const) {
    it(algorithm, () => {
      const signature = sdkClient({ algorithm }).generateButtonSignature(payloadJson);
      expect(verifyString(buttonStringToSign(algorithm, payloadJson), signature, publicKey, algorithm)).toBe(
        true,
      );
      expect(
        verifyString(buttonStringToSign(algorithm, `${payloadJson} `), signature, publicKey, algorithm),
      ).toBe(false);
    });
  }
});
