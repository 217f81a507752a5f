// Signing against the protocol sheet's vectors (§3) and the published test key pair.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  buildCanonicalRequest,
  buttonStringToSign,
  canonicalUri,
  formatAmzDate,
  parseAmzDate,
  sha256Hex,
  signStringAsync,
  stringToSign,
  verifyString,
} from '../src/amazon-pay/signing.ts';

const privateKey = createPrivateKey(
  readFileSync(new URL('./fixtures/amazon-test-key-private-pkcs1.pem', import.meta.url)),
);
const publicKey = createPublicKey(
  readFileSync(new URL('./fixtures/amazon-test-key-public.pem', import.meta.url)),
);

const javaHeaders = {
  accept: 'application/json',
  'content-type': 'application/json',
  'x-amz-pay-date': '20180524T223710Z',
  'x-amz-pay-host': 'pay-api.amazon.eu',
  'x-amz-pay-region': 'EU',
};

describe('canonical request (JAVA testdata.js vectors)', () => {
  const cases: Array<[string, string, string, Record<string, string> | undefined, string]> = [
    [
      'get-vanilla',
      'GET',
      '/',
      undefined,
      'bb49552975c396f1e49d5510e1555b8b0627dc491bc61aaefdb561f202ad8020',
    ],
    [
      'get-unreserved',
      'GET',
      '/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
      undefined,
      'a0e5dd63e175587f29d51c6b08be5c746a568209ac66ab1f967e0ba515aa80bc',
    ],
    [
      'get-utf8',
      'GET',
      '/\u1234',
      undefined,
      '77f6544c8fb336d430895659da1e30415a1558b4b013f4d7926bb3a6275f701d',
    ],
    [
      'get-vanilla-utf8-query',
      'GET',
      '/',
      { '\u1234': 'bar' },
      'ef1007307504f2ca9f0b6310b04056f5d3d6d18e7bf3d90663133f19ec132ecc',
    ],
    [
      'post-vanilla',
      'POST',
      '/',
      undefined,
      '54156f5badd6da7fa630b2c334c808ad376530001d334ae9960457215aa626d3',
    ],
    [
      'post-vanilla-query',
      'POST',
      '/',
      { foo: 'bar' },
      'cc82525870b2d03666c287fd8b2c0d2fc6fa1693d9f357d27f7cac8cbcc12832',
    ],
  ];
  for (const [name, method, path, query, hash] of cases) {
    it(name, () => {
      const req = buildCanonicalRequest({ method, path, query, headers: javaHeaders, payload: '' });
      expect(stringToSign('AMZN-PAY-RSASSA-PSS', req.text)).toBe(`AMZN-PAY-RSASSA-PSS\n${hash}`);
      expect(stringToSign('AMZN-PAY-RSASSA-PSS-V2', req.text)).toBe(`AMZN-PAY-RSASSA-PSS-V2\n${hash}`);
    });
  }

  it('get-vanilla canonical text is exact', () => {
    const req = buildCanonicalRequest({ method: 'GET', path: '/', headers: javaHeaders, payload: '' });
    expect(req.text).toBe(
      'GET\n/\n\naccept:application/json\ncontent-type:application/json\nx-amz-pay-date:20180524T223710Z\nx-amz-pay-host:pay-api.amazon.eu\nx-amz-pay-region:EU\n\naccept;content-type;x-amz-pay-date;x-amz-pay-host;x-amz-pay-region\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });
});

describe('canonical request (NET CreateStringToSignTest vectors)', () => {
  const netHeaders = { ...javaHeaders, 'x-amz-pay-region': 'eu' };
  const cases: Array<[string, string, Record<string, string | string[]> | undefined, string]> = [
    ['GET', '/', undefined, '13fdf6db844bdfb9e9c0e27a4251ca04e60c29ca2132249c5dd1cb09c26e22f5'],
    ['GET', '///foo//', undefined, 'd8e13e1857bc9b5056cc8ccb2699812faa2c68960e00483b1390fdaf4a991cc4'],
    [
      'GET',
      '/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
      undefined,
      '585e034d38ed3d64c0cd77a9f357a4b4a0fc093eebe06f4b06f66845e3543038',
    ],
    ['GET', '/', { '\u1234': 'bar' }, 'f0597d2fdcf97baf28002461796e916a74e35073b44042296d2ed45bacf6ecf0'],
    ['POST', '/', undefined, '322307b5dae22c3d59350c3de9202a488f337f674c8f430b186282008264bd2b'],
    ['POST', '/', { foo: 'bar' }, '9d61b5abddbfdcaf7810a8e83dfffe0a5d5f272d2676c0550d974d5383e94cd5'],
    ['GET', '/', { foo: ['b', 'a'] }, '937de37fb8aed8af4214c373580c72f40c525202d1975df6836ba6ed0062b902'],
    ['GET', '/', { a: 'foo', b: 'foo' }, '457de2535eedbd6ef25f5c8ec4653ee885b99838d722189928f4fdf8d3c3ef4f'],
    [
      'GET',
      '/',
      { 'A.1': 'foo', 'A.10': 'foo', 'A.2': 'foo' },
      '43ae5290e6742d30e3822b62b6d759afedafbe01534f778175c336b455d632e7',
    ],
    ['GET', '/', { foo: ['Zoo', 'aha'] }, '7a4d89bd832cb93f2102f66bc8d3a0bc5f224c0bb758eab261dcd34a8ed2f117'],
    ['POST', '/', { 'f oo': 'b ar' }, '79481e4e38a053f7be8bda701c0d302d39df18bf468578b133c3be8e93fea86a'],
  ];
  for (const [method, path, query, hash] of cases) {
    it(`${method} ${path} ${JSON.stringify(query ?? {})}`, () => {
      const req = buildCanonicalRequest({ method, path, query, headers: netHeaders, payload: '' });
      expect(sha256Hex(req.text)).toBe(hash);
    });
  }
});

describe('self-computed vectors for Complete and Get (§3.7)', () => {
  const headers = {
    accept: 'application/json',
    'content-type': 'application/json',
    'x-amz-pay-date': '20240501T123456Z',
    'x-amz-pay-host': 'pay-api.amazon.com',
    'x-amz-pay-region': 'na',
  };
  const id = 'bd504926-f659-4ad7-a1a9-9a747aaf5275';
  it('A: Complete with an environment-specific key', () => {
    const req = buildCanonicalRequest({
      method: 'POST',
      path: `/v2/checkoutSessions/${id}/complete`,
      headers,
      payload: '{}',
    });
    expect(sha256Hex(req.text)).toBe('12c271211b07269469c878085bb075c7e0e848b15d2dc8d3df249c6668c185d9');
  });
  it('B: Complete with a signed idempotency key', () => {
    const req = buildCanonicalRequest({
      method: 'POST',
      path: `/v2/checkoutSessions/${id}/complete`,
      headers: { ...headers, 'x-amz-pay-idempotency-key': '3f1c2b9a8e7d4c6b5a49382716050f1e' },
      payload: '{}',
    });
    expect(sha256Hex(req.text)).toBe('11587a0467377f532e5f568b1dbca89db519a43d7af5a55635c67aeb39adf840');
  });
  it('C: one-time Complete on the legacy sandbox path', () => {
    const payload = '{"chargeAmount":{"amount":"14.00","currencyCode":"USD"}}';
    expect(sha256Hex(payload)).toBe('a2e6abc3905a847894c5d5120b29dfa8f1c9055024fdece6edaddb177d960fbf');
    const req = buildCanonicalRequest({
      method: 'POST',
      path: `/sandbox/v2/checkoutSessions/${id}/complete`,
      headers,
      payload,
    });
    expect(sha256Hex(req.text)).toBe('a29eb6c360fd137daa7826b683f07fadef085f648ea76723ef638a09b743caa0');
  });
  it('D: Get Checkout Session', () => {
    const req = buildCanonicalRequest({
      method: 'GET',
      path: `/v2/checkoutSessions/${id}`,
      headers,
      payload: '',
    });
    expect(sha256Hex(req.text)).toBe('f5a4b0bfc64893b8ce6f5068319ebf49d86bbfae5a2ed7ac44a492d921ec7d43');
  });
  it('docs example (§3.3) with the Ruby test payload', () => {
    const payload =
      '{"webCheckoutDetail":{"checkoutReviewReturnUrl":"https://example.jp/merchant-review-page"},"storeId":"amzn1.store.id"}';
    expect(sha256Hex(payload)).toBe('c24cf3344641ba92f4d16246aab4d6f28325b7466d7adee5bc3bd2f23fdc4949');
    const req = buildCanonicalRequest({
      method: 'POST',
      path: '/live/v1/checkoutSessions',
      headers: {
        accept: 'application/json',
        'content-type': 'application/json',
        'x-amz-pay-date': '20190923T231908Z',
        'x-amz-pay-host': 'pay-api.amazon.com',
        'x-amz-pay-idempotency-key': 'cllHyiNvS8cJ8Zas',
        'x-amz-pay-region': 'us',
      },
      payload,
    });
    expect(sha256Hex(req.text)).toBe('1efa4e9e223184a6d9cddb0b474be79cdd0bafcb298dc85d72c0a69a60588e63');
  });
});

describe('signatures with the published test key pair', () => {
  it('button payload vector (§3.4) signs and verifies for both algorithms', async () => {
    const payload =
      '{"storeId":"amzn1.application-oa2-client.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","webCheckoutDetails":{"checkoutReviewReturnUrl":"https://localhost/test/CheckoutReview.php","checkoutResultReturnUrl":"https://localhost/test/CheckoutResult.php"}}';
    for (const alg of ['AMZN-PAY-RSASSA-PSS', 'AMZN-PAY-RSASSA-PSS-V2'] as const) {
      const sts = buttonStringToSign(alg, payload);
      expect(sts).toBe(`${alg}\n8dec52d799607be40f82d5c8e7ecb6c171e6591c41b1111a576b16076c89381c`);
      const signature = await signStringAsync(sts, privateKey, alg);
      expect(Buffer.from(signature, 'base64')).toHaveLength(256);
      expect(verifyString(sts, signature, publicKey, alg)).toBe(true);
      const other = alg === 'AMZN-PAY-RSASSA-PSS' ? 'AMZN-PAY-RSASSA-PSS-V2' : 'AMZN-PAY-RSASSA-PSS';
      expect(verifyString(sts, signature, publicKey, other)).toBe(false);
      expect(verifyString(`${sts}x`, signature, publicKey, alg)).toBe(false);
    }
  });
});

describe('helpers', () => {
  it('formats and parses x-amz-pay-date', () => {
    const d = new Date('2019-09-23T23:19:08.123Z');
    expect(formatAmzDate(d)).toBe('20190923T231908Z');
    expect(parseAmzDate('20190923T231908Z')?.toISOString()).toBe('2019-09-23T23:19:08.000Z');
    expect(parseAmzDate('2019-09-23T23:19:08Z')?.toISOString()).toBe('2019-09-23T23:19:08.000Z');
    expect(parseAmzDate('yesterday')).toBeUndefined();
  });
  it('canonical URI keeps checkout-session paths unchanged', () => {
    expect(canonicalUri('/v2/checkoutSessions/bd504926-f659-4ad7-a1a9-9a747aaf5275/complete')).toBe(
      '/v2/checkoutSessions/bd504926-f659-4ad7-a1a9-9a747aaf5275/complete',
    );
  });
});
