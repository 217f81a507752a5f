// AmazonPayClient over real sockets (node:http on 127.0.0.1:0) and undici MockAgent: signing, errors, retries, deadlines.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, MockAgent } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { AmazonPayClient, type AmazonPayClientOptions, type ClientEvent } from '../src/amazon-pay/client.ts';
import {
  AmazonPayApiError,
  AmazonPayInvalidResponseError,
  AmazonPayTimeoutError,
  AmazonPayTransportError,
} from '../src/amazon-pay/errors.ts';
import {
  buildCanonicalRequest,
  buttonStringToSign,
  parseAuthorization,
  type SigningAlgorithm,
  stringToSign,
  verifyString,
} from '../src/amazon-pay/signing.ts';

const privateKey = createPrivateKey(
  readFileSync(new URL('./fixtures/amazon-test-key-private-pkcs1.pem', import.meta.url)),
);
const publicKey = createPublicKey(
  readFileSync(new URL('./fixtures/amazon-test-key-public.pem', import.meta.url)),
);

const SESSION_ID = 'bd504926-f659-4ad7-a1a9-9a747aaf5275';
const KEY = 'bd504926f6594ad7a1a99a747aaf5275';

// The example response of the Saved Wallet guide, step 3, verbatim.
const STEP3_RESPONSE = `{
"checkoutSessionId": "bd504926-f659-4ad7-a1a9-9a747aaf5275",
"webCheckoutDetails": null,
"chargePermissionType": "PaymentMethodOnFile",
"paymentMethodOnFileMetadata": null,
"productType": null,
"paymentDetails": null,
"merchantMetadata": null,
"supplementaryData":null,
"buyer": {
"buyerId": "buyerId",
"name": "name-1",
"email": "name@amazon.com",
"phoneNumber": "800-000-0000",
"primeMembershipTypes": null
},
"billingAddress":{
"name": "Work",
"addressLine1": "440 Terry Ave",
"addressLine2": "",
"addressLine3": "",
"city": "Seattle",
"county": "King",
"district": "Seattle",
"stateOrRegion": "WA",
"postalCode": "98121",
"countryCode": "US",
"phoneNumber": "800-000-0000"
},
"statusDetails": {
"state": "Completed",
"reasonCode": null,
"reasonDescription": null,
"lastUpdatedTimestamp":"20191015T204327Z"
},
"shippingAddress": {
"name":"Susie Smith",
"addressLine1":"10 Ditka Ave",
"addressLine2":"Suite 2500",
"addressLine3":null,
"city":"Chicago",
"county":null,
"district":null,
"stateOrRegion":"IL",
"postalCode":"60602",
"countryCode":"US",
"phoneNumber":"800-000-0000"
},
"platformId":null,
"chargePermissionId": "B01-xxxxxxx-xxxxxxx",
"chargeId":null,
"constraints": null,
"creationTimestamp":"20191015T204313Z",
"expirationTimestamp": null,
"storeId": null,
"deliverySpecifications": null,
"providerMetadata": null,
"releaseEnvironment": null
}`;

const OPEN_SESSION = JSON.stringify({
  checkoutSessionId: SESSION_ID,
  statusDetails: { state: 'Open', reasonCode: null, reasonDescription: null },
});

interface Received {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}
type Handler = (ctx: { req: http.IncomingMessage; res: http.ServerResponse; n: number }) => void;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A real HTTP server on an ephemeral port; the handler runs once the whole request body has arrived. */
async function startServer(handler: Handler): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      handler({ req, res, n: received.length });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, received };
}

function reply(
  res: http.ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(body);
}

function amazonError(res: http.ServerResponse, status: number, reasonCode: string, n = 1): void {
  reply(res, status, JSON.stringify({ reasonCode, message: `message for ${reasonCode}` }), {
    'x-amz-pay-request-id': `req-${n}`,
  });
}

function makeClient(overrides: Partial<AmazonPayClientOptions> = {}): AmazonPayClient {
  const client = new AmazonPayClient({
    publicKeyId: 'SANDBOX-AEXAMPLEKEYID0001',
    privateKey,
    region: 'na',
    sandbox: true,
    backoffBaseMs: 10,
    backoffCapMs: 50,
    ...overrides,
  });
  cleanups.push(() => client.close());
  return client;
}

/** Verifies the request as the server received it, exactly as Amazon (or the simulator) would. */
function signatureValid(r: Pick<Received, 'method' | 'path' | 'headers' | 'body'>): boolean {
  const auth = parseAuthorization(String(r.headers.authorization));
  if (!auth) return false;
  const headers = Object.fromEntries(auth.signedHeaders.map((name) => [name, String(r.headers[name])]));
  const canonical = buildCanonicalRequest({ method: r.method, path: r.path, headers, payload: r.body });
  return verifyString(
    stringToSign(auth.algorithm, canonical.text),
    auth.signature,
    publicKey,
    auth.algorithm,
  );
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected the promise to reject');
}

/** A port nobody listens on: bind, note the port, close. */
async function closedPortUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

describe('success', () => {
  it('completes with exactly {} and parses the documented example response', async () => {
    const { url, received } = await startServer(({ res }) =>
      reply(res, 200, STEP3_RESPONSE, { 'x-amz-pay-request-id': 'amzn-req-1' }),
    );
    const client = makeClient({ apiBaseUrl: url });
    const result = await client.completeCheckoutSession(SESSION_ID, {}, { idempotencyKey: KEY });

    expect(result.status).toBe(200);
    expect(result.attempts).toBe(1);
    expect(result.requestId).toBe('amzn-req-1');
    expect(result.data.checkoutSessionId).toBe(SESSION_ID);
    expect(result.data.statusDetails.state).toBe('Completed');
    expect(result.data.chargePermissionId).toBe('B01-xxxxxxx-xxxxxxx');
    expect(result.data.buyer?.email).toBe('name@amazon.com');
    expect(result.data.billingAddress?.city).toBe('Seattle');
    expect(result.data.shippingAddress?.addressLine3).toBeNull();

    expect(received).toHaveLength(1);
    const [r] = received as [Received];
    expect(r.method).toBe('POST');
    expect(r.path).toBe(`/v2/checkoutSessions/${SESSION_ID}/complete`);
    expect(r.body).toBe('{}');
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['content-length']).toBe('2');
    expect(r.headers.accept).toBe('application/json');
    expect(r.headers['x-amz-pay-host']).toBe('127.0.0.1');
    expect(r.headers['x-amz-pay-region']).toBe('na');
    expect(r.headers['x-amz-pay-idempotency-key']).toBe(KEY);
    expect(r.headers['x-amz-pay-date']).toMatch(/^\d{8}T\d{6}Z$/);
    expect(r.headers['user-agent']).toBeTruthy();
    expect(r.headers.authorization).toMatch(
      /^AMZN-PAY-RSASSA-PSS-V2 PublicKeyId=SANDBOX-AEXAMPLEKEYID0001, SignedHeaders=accept;content-type;x-amz-pay-date;x-amz-pay-host;x-amz-pay-idempotency-key;x-amz-pay-region, Signature=[A-Za-z0-9+/]+={0,2}$/,
    );
    expect(signatureValid(r)).toBe(true);
  });

  it('re-parses shippingAddressList items sent as JSON strings (GET, no body, no idempotency key)', async () => {
    const session = {
      ...JSON.parse(OPEN_SESSION),
      shippingAddressList: [
        JSON.stringify({ name: 'Susie Smith', city: 'Chicago', countryCode: 'US' }),
        JSON.stringify({ name: 'Work', city: 'Seattle', countryCode: 'US' }),
      ],
    };
    const { url, received } = await startServer(({ res }) => reply(res, 200, JSON.stringify(session)));
    const client = makeClient({ apiBaseUrl: url });
    const result = await client.getCheckoutSession(SESSION_ID);

    expect(result.data.shippingAddressList).toEqual([
      expect.objectContaining({ name: 'Susie Smith', city: 'Chicago' }),
      expect.objectContaining({ name: 'Work', city: 'Seattle' }),
    ]);
    const [r] = received as [Received];
    expect(r.method).toBe('GET');
    expect(r.path).toBe(`/v2/checkoutSessions/${SESSION_ID}`);
    expect(r.body).toBe('');
    expect(r.headers['x-amz-pay-idempotency-key']).toBeUndefined();
    expect(String(r.headers.authorization)).toContain(
      'SignedHeaders=accept;content-type;x-amz-pay-date;x-amz-pay-host;x-amz-pay-region,',
    );
    expect(signatureValid(r)).toBe(true);
  });

  it('sends a simulation code unsigned', async () => {
    const { url, received } = await startServer(({ res }) => reply(res, 200, STEP3_RESPONSE));
    const client = makeClient({ apiBaseUrl: url });
    await client.completeCheckoutSession(SESSION_ID, {}, { idempotencyKey: KEY, simulationCode: 'Declined' });
    const [r] = received as [Received];
    expect(r.headers['x-amz-pay-simulation-code']).toBe('Declined');
    expect(String(r.headers.authorization)).not.toContain('simulation');
    expect(signatureValid(r)).toBe(true);
  });
});

describe('documented errors are typed and never retried', () => {
  const cases: Array<[number, string, boolean]> = [
    [400, 'InvalidHeaderValue', false],
    [403, 'InvalidRequestSignature', false],
    [404, 'ResourceNotFound', false],
    [422, 'CheckoutSessionCanceled', false],
    [422, 'InvalidCheckoutSessionStatus', true],
  ];
  it.each(cases)('%i %s', async (status, reasonCode, ambiguous) => {
    const { url, received } = await startServer(({ res, n }) => amazonError(res, status, reasonCode, n));
    const client = makeClient({ apiBaseUrl: url, maxAttempts: 4 });
    const err = await rejection(client.completeCheckoutSession(SESSION_ID, {}, { idempotencyKey: KEY }));

    expect(err).toBeInstanceOf(AmazonPayApiError);
    const apiError = err as AmazonPayApiError;
    expect(apiError.status).toBe(status);
    expect(apiError.reasonCode).toBe(reasonCode);
    expect(apiError.amazonMessage).toBe(`message for ${reasonCode}`);
    expect(apiError.retryable).toBe(false);
    expect(apiError.ambiguous).toBe(ambiguous);
    expect(apiError.attempts).toBe(1);
    expect(apiError.requestId).toBe('req-1');
    expect(received).toHaveLength(1);
  });

  it('names an unparseable error body by its status', async () => {
    const { url, received } = await startServer(({ res }) => {
      res.writeHead(401, { 'content-type': 'text/html' });
      res.end('<html>nope</html>');
    });
    const client = makeClient({ apiBaseUrl: url });
    const err = (await rejection(client.getCheckoutSession(SESSION_ID))) as AmazonPayApiError;
    expect(err).toBeInstanceOf(AmazonPayApiError);
    expect(err.reasonCode).toBe('HttpStatus401');
    expect(received).toHaveLength(1);
  });
});

describe('retries', () => {
  it('retries a 503 and completes with the same idempotency key, re-signed with a fresh date', async () => {
    const { url, received } = await startServer(({ res, n }) => {
      if (n === 1) amazonError(res, 503, 'ServiceUnavailable', n);
      else reply(res, 200, STEP3_RESPONSE, { 'x-amz-pay-request-id': `req-${n}` });
    });
    let clock = Date.parse('2026-11-27T10:00:00Z');
    const events: ClientEvent[] = [];
    const client = makeClient({
      apiBaseUrl: url,
      now: () => {
        clock += 1000;
        return new Date(clock);
      },
      onEvent: (e) => events.push(e),
    });
    const result = await client.completeCheckoutSession(SESSION_ID, {}, { idempotencyKey: KEY });

    expect(result.attempts).toBe(2);
    expect(result.requestId).toBe('req-2');
    expect(received).toHaveLength(2);
    const [first, second] = received as [Received, Received];
    expect(first.headers['x-amz-pay-idempotency-key']).toBe(KEY);
    expect(second.headers['x-amz-pay-idempotency-key']).toBe(KEY);
    expect(first.headers['x-amz-pay-date']).not.toBe(second.headers['x-amz-pay-date']);
    expect(first.body).toBe('{}');
    expect(second.body).toBe('{}');
    expect(signatureValid(first)).toBe(true);
    expect(signatureValid(second)).toBe(true);

    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({
      operation: 'complete',
      attempt: 1,
      status: 503,
      outcome: 'api-error',
      requestId: 'req-1',
      willRetry: true,
    });
    expect(events[1]).toMatchObject({ operation: 'complete', attempt: 2, status: 200, outcome: 'success' });
    // Events are for metrics and logs: no session id, no buyer data.
    expect(JSON.stringify(events)).not.toContain(SESSION_ID);
    expect(JSON.stringify(events)).not.toContain('amazon.com');
  });

  it('uses full-jitter exponential backoff capped at backoffCapMs', async () => {
    const { url, received } = await startServer(({ res, n }) =>
      amazonError(res, 500, 'InternalServerError', n),
    );
    const delays: number[] = [];
    const client = makeClient({
      apiBaseUrl: url,
      maxAttempts: 5,
      backoffBaseMs: 200,
      backoffCapMs: 1000,
      random: () => 0.5,
      sleep: async (ms) => {
        delays.push(ms);
      },
    });
    const err = (await rejection(client.getCheckoutSession(SESSION_ID))) as AmazonPayApiError;
    expect(delays).toEqual([100, 200, 400, 500]);
    expect(err).toBeInstanceOf(AmazonPayApiError);
    expect(err.status).toBe(500);
    expect(err.attempts).toBe(5);
    expect(err.requestId).toBe('req-5');
    expect(err.ambiguous).toBe(true);
    expect(received).toHaveLength(5);
  });

  it('waits for Retry-After: 1 on a 429 before retrying', async () => {
    const arrivals: number[] = [];
    const { url } = await startServer(({ res, n }) => {
      arrivals.push(performance.now());
      if (n === 1) {
        reply(res, 429, JSON.stringify({ reasonCode: 'TooManyRequests', message: 'slow down' }), {
          'retry-after': '1',
        });
      } else reply(res, 200, STEP3_RESPONSE);
    });
    const client = makeClient({ apiBaseUrl: url });
    const started = performance.now();
    const result = await client.completeCheckoutSession(SESSION_ID, {}, { idempotencyKey: KEY });
    expect(result.attempts).toBe(2);
    expect(arrivals[1]! - arrivals[0]!).toBeGreaterThanOrEqual(950);
    expect(performance.now() - started).toBeLessThan(2900);
  });

  it('honours Retry-After as an HTTP date', async () => {
    const now = new Date('2026-11-27T10:00:00Z');
    const { url } = await startServer(({ res, n }) => {
      if (n === 1) {
        reply(res, 503, '{"reasonCode":"ServiceUnavailable"}', {
          'retry-after': new Date(now.getTime() + 3000).toUTCString(),
        });
      } else reply(res, 200, OPEN_SESSION);
    });
    const delays: number[] = [];
    const client = makeClient({
      apiBaseUrl: url,
      now: () => now,
      sleep: async (ms) => {
        delays.push(ms);
      },
    });
    await client.getCheckoutSession(SESSION_ID);
    expect(delays).toEqual([3000]);
  });

  it('raises at once when Retry-After does not fit in the remaining budget', async () => {
    const { url, received } = await startServer(({ res }) =>
      reply(res, 429, '{"reasonCode":"TooManyRequests","message":""}', { 'retry-after': '30' }),
    );
    const client = makeClient({ apiBaseUrl: url, budgetMs: 20_000 });
    const started = performance.now();
    const err = (await rejection(
      client.completeCheckoutSession(SESSION_ID, {}, { idempotencyKey: KEY }),
    )) as AmazonPayApiError;
    expect(err).toBeInstanceOf(AmazonPayApiError);
    expect(err.reasonCode).toBe('TooManyRequests');
    expect(err.retryAfterMs).toBe(30_000);
    expect(err.retryable).toBe(true);
    expect(err.attempts).toBe(1);
    expect(received).toHaveLength(1);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('stops when the budget is spent: no attempt and no sleep outlives it', async () => {
    // Never answers; each attempt is cut by its deadline or by what is left of the budget.
    const { url, received } = await startServer(() => {});
    const client = makeClient({
      apiBaseUrl: url,
      attemptTimeoutMs: 300,
      budgetMs: 800,
      maxAttempts: 10,
      random: () => 0,
    });
    const started = performance.now();
    const err = (await rejection(client.getCheckoutSession(SESSION_ID))) as AmazonPayTimeoutError;
    const elapsed = performance.now() - started;
    expect(err).toBeInstanceOf(AmazonPayTimeoutError);
    expect(err.attempts).toBeGreaterThanOrEqual(2);
    expect(err.attempts).toBeLessThanOrEqual(3);
    expect(received.length).toBe(err.attempts);
    expect(elapsed).toBeGreaterThanOrEqual(700);
    expect(elapsed).toBeLessThan(1500);
  });

  it('does not sleep into a backoff that would overrun the budget', async () => {
    const { url, received } = await startServer(({ res, n }) =>
      amazonError(res, 503, 'ServiceUnavailable', n),
    );
    const events: ClientEvent[] = [];
    const client = makeClient({
      apiBaseUrl: url,
      budgetMs: 1000,
      maxAttempts: 10,
      backoffBaseMs: 400,
      backoffCapMs: 5000,
      random: () => 1,
      onEvent: (e) => events.push(e),
    });
    const started = performance.now();
    const err = (await rejection(client.getCheckoutSession(SESSION_ID))) as AmazonPayApiError;
    // A real 400 ms sleep fits; then 800 ms (plus the minimum attempt time) no longer fits in what is left.
    expect(events.map((e) => e.retryDelayMs)).toEqual([400, undefined]);
    expect(err.status).toBe(503);
    expect(err.attempts).toBe(2);
    expect(received).toHaveLength(2);
    expect(performance.now() - started).toBeLessThan(900);
  });

  it('keeps a final 429 ambiguous when an earlier attempt may have taken effect', async () => {
    const { url } = await startServer(({ res, n }) => {
      if (n === 1) amazonError(res, 503, 'ServiceUnavailable', n);
      else reply(res, 429, '{"reasonCode":"TooManyRequests"}');
    });
    const client = makeClient({ apiBaseUrl: url, maxAttempts: 2 });
    const err = (await rejection(
      client.completeCheckoutSession(SESSION_ID, {}, { idempotencyKey: KEY }),
    )) as AmazonPayApiError;
    expect(err.status).toBe(429);
    expect(err.attempts).toBe(2);
    expect(err.requestId).toBe('req-1');
    expect(err.ambiguous).toBe(true);
  });
});

describe('transport failures and deadlines', () => {
  it('cuts a body that trickles for 10 s at the attempt deadline', async () => {
    const { url } = await startServer(({ req, res }) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"checkoutSessionId":"');
      let ticks = 0;
      const timer = setInterval(() => {
        if (++ticks >= 50) {
          clearInterval(timer);
          res.end('"}');
        } else res.write('a');
      }, 200);
      req.socket.on('close', () => clearInterval(timer));
    });
    const client = makeClient({ apiBaseUrl: url, attemptTimeoutMs: 1000, maxAttempts: 1 });
    const started = performance.now();
    const err = (await rejection(
      client.completeCheckoutSession(SESSION_ID, {}, { idempotencyKey: KEY }),
    )) as AmazonPayTimeoutError;
    const elapsed = performance.now() - started;
    expect(err).toBeInstanceOf(AmazonPayTimeoutError);
    expect(err.ambiguous).toBe(true);
    expect(err.timeoutMs).toBe(1000);
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(2000);
  });

  it('reports a connection closed after the request arrived as an ambiguous transport error', async () => {
    const { url, received } = await startServer(({ req }) => req.socket.destroy());
    const client = makeClient({ apiBaseUrl: url, maxAttempts: 1 });
    const err = (await rejection(
      client.completeCheckoutSession(SESSION_ID, {}, { idempotencyKey: KEY }),
    )) as AmazonPayTransportError;
    expect(err).toBeInstanceOf(AmazonPayTransportError);
    expect(err.requestSent).toBe(true);
    expect(err.ambiguous).toBe(true);
    expect(err.code).toBe('UND_ERR_SOCKET');
    expect(received).toHaveLength(1);
  });

  it('reports a TCP reset after the request arrived as an ambiguous transport error', async () => {
    const { url } = await startServer(({ req }) => req.socket.resetAndDestroy());
    const client = makeClient({ apiBaseUrl: url, maxAttempts: 1 });
    const err = (await rejection(
      client.completeCheckoutSession(SESSION_ID, {}, { idempotencyKey: KEY }),
    )) as AmazonPayTransportError;
    expect(err).toBeInstanceOf(AmazonPayTransportError);
    expect(err.requestSent).toBe(true);
    expect(err.ambiguous).toBe(true);
  });

  it('reports a truncated body as an ambiguous transport error', async () => {
    const { url } = await startServer(({ req, res }) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '2000' });
      res.write(STEP3_RESPONSE.slice(0, 100));
      setTimeout(() => req.socket.destroy(), 20);
    });
    const client = makeClient({ apiBaseUrl: url, maxAttempts: 1 });
    const err = (await rejection(
      client.completeCheckoutSession(SESSION_ID, {}, { idempotencyKey: KEY }),
    )) as AmazonPayTransportError;
    expect(err).toBeInstanceOf(AmazonPayTransportError);
    expect(err.requestSent).toBe(true);
    expect(err.ambiguous).toBe(true);
  });

  it('reports ECONNREFUSED as a non-ambiguous transport error, retried', async () => {
    const events: ClientEvent[] = [];
    const client = makeClient({
      apiBaseUrl: await closedPortUrl(),
      maxAttempts: 2,
      onEvent: (e) => events.push(e),
    });
    const err = (await rejection(
      client.completeCheckoutSession(SESSION_ID, {}, { idempotencyKey: KEY }),
    )) as AmazonPayTransportError;
    expect(err).toBeInstanceOf(AmazonPayTransportError);
    expect(err.code).toBe('ECONNREFUSED');
    expect(err.requestSent).toBe(false);
    expect(err.ambiguous).toBe(false);
    expect(err.attempts).toBe(2);
    expect(events.map((e) => [e.outcome, e.willRetry])).toEqual([
      ['transport-error', true],
      ['transport-error', false],
    ]);
  });

  it('treats a 200 with invalid JSON as an ambiguous invalid response, not retried', async () => {
    const { url, received } = await startServer(({ res }) => reply(res, 200, '{"checkoutSessionId": "bd50'));
    const client = makeClient({ apiBaseUrl: url });
    const err = (await rejection(
      client.completeCheckoutSession(SESSION_ID, {}, { idempotencyKey: KEY }),
    )) as AmazonPayInvalidResponseError;
    expect(err).toBeInstanceOf(AmazonPayInvalidResponseError);
    expect(err.ambiguous).toBe(true);
    expect(err.status).toBe(200);
    expect(received).toHaveLength(1);
  });

  it('treats a 200 that is not a checkout session as an invalid response', async () => {
    const { url } = await startServer(({ res }) =>
      reply(res, 200, '{"checkoutSessionId":"x","statusDetails":{}}'),
    );
    const client = makeClient({ apiBaseUrl: url });
    const err = await rejection(client.getCheckoutSession(SESSION_ID));
    expect(err).toBeInstanceOf(AmazonPayInvalidResponseError);
  });

  it('stops at once when the caller aborts mid-request', async () => {
    const { url, received } = await startServer(() => {});
    const client = makeClient({ apiBaseUrl: url, maxAttempts: 4 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const err = (await rejection(
      client.completeCheckoutSession(SESSION_ID, {}, { idempotencyKey: KEY, signal: controller.signal }),
    )) as AmazonPayTransportError;
    expect(err).toBeInstanceOf(AmazonPayTransportError);
    expect(err.code).toBe('ABORT_ERR');
    expect(err.ambiguous).toBe(true);
    expect(received).toHaveLength(1);
  });
});

describe('URL prefix rules and signing through MockAgent', () => {
  const cases: Array<[string, boolean, string]> = [
    ['AEXAMPLELEGACYKEY', true, `/sandbox/v2/checkoutSessions/${SESSION_ID}`],
    ['AEXAMPLELEGACYKEY', false, `/live/v2/checkoutSessions/${SESSION_ID}`],
    ['SANDBOX-AEXAMPLEKEY', false, `/v2/checkoutSessions/${SESSION_ID}`],
    ['LIVE-AEXAMPLEKEY', true, `/v2/checkoutSessions/${SESSION_ID}`],
  ];
  it.each(cases)('key %s, sandbox %s → %s', async (publicKeyId, sandbox, path) => {
    const { url, received } = await startServer(({ res }) => reply(res, 200, OPEN_SESSION));
    const client = makeClient({ apiBaseUrl: url, publicKeyId, sandbox });
    await client.getCheckoutSession(SESSION_ID);
    const [r] = received as [Received];
    expect(r.path).toBe(path);
    expect(String(r.headers.authorization)).toContain(`PublicKeyId=${publicKeyId},`);
    expect(signatureValid(r)).toBe(true);
  });

  it.each<SigningAlgorithm>(['AMZN-PAY-RSASSA-PSS', 'AMZN-PAY-RSASSA-PSS-V2'])(
    'signs for the region host with %s',
    async (algorithm) => {
      // MockAgent with net connect disabled: the region host is only matched, never contacted.
      const mockAgent = new MockAgent({ enableCallHistory: true });
      mockAgent.disableNetConnect();
      cleanups.push(() => mockAgent.close());
      mockAgent
        .get('https://pay-api.amazon.eu')
        .intercept({ path: `/live/v2/checkoutSessions/${SESSION_ID}/complete`, method: 'POST' })
        .reply(200, STEP3_RESPONSE, { headers: { 'x-amz-pay-request-id': 'mock-1' } });
      const client = makeClient({
        publicKeyId: 'AEXAMPLELEGACYKEY',
        sandbox: false,
        region: 'eu',
        algorithm,
        dispatcher: mockAgent,
      });
      const result = await client.completeCheckoutSession(SESSION_ID, {}, { idempotencyKey: KEY });
      expect(result.requestId).toBe('mock-1');

      const call = mockAgent.getCallHistory()?.lastCall();
      expect(call).toBeDefined();
      const headers = call!.headers as Record<string, string>;
      expect(headers['x-amz-pay-host']).toBe('pay-api.amazon.eu');
      expect(headers['x-amz-pay-region']).toBe('eu');
      expect(headers.authorization!.startsWith(`${algorithm} PublicKeyId=AEXAMPLELEGACYKEY, `)).toBe(true);
      expect(call!.body).toBe('{}');
      expect(
        signatureValid({ method: call!.method, path: call!.path, headers, body: String(call!.body) }),
      ).toBe(true);
    },
  );

  it('does not close an injected dispatcher', async () => {
    const agent = new Agent();
    cleanups.push(() => agent.close());
    const { url } = await startServer(({ res }) => reply(res, 200, OPEN_SESSION));
    const client = makeClient({ apiBaseUrl: url, dispatcher: agent });
    await client.close();
    expect(agent.closed).toBe(false);
    await expect(client.getCheckoutSession(SESSION_ID)).resolves.toMatchObject({ status: 200 });
  });

  it('fails fast, without retrying, once its own dispatcher is closed', async () => {
    const { url, received } = await startServer(({ res }) => reply(res, 200, OPEN_SESSION));
    const client = makeClient({ apiBaseUrl: url });
    await client.close();
    const err = (await rejection(client.getCheckoutSession(SESSION_ID))) as AmazonPayTransportError;
    expect(err).toBeInstanceOf(AmazonPayTransportError);
    expect(err.attempts).toBe(1);
    expect(err.requestSent).toBe(false);
    expect(received).toHaveLength(0);
  });
});

describe('input validation and button signing', () => {
  it.each([
    ['an empty key', SESSION_ID, ''],
    ['a 33-character key', SESSION_ID, 'a'.repeat(33)],
    ['a key with a space', SESSION_ID, 'a b'],
    ['a path-traversing id', '../x', KEY],
    ['an empty id', '', KEY],
    ['an id with a slash', 'a/complete', KEY],
  ])('rejects %s before any network', async (_label, id, idempotencyKey) => {
    const { url, received } = await startServer(({ res }) => reply(res, 200, STEP3_RESPONSE));
    const client = makeClient({ apiBaseUrl: url });
    await expect(client.completeCheckoutSession(id, {}, { idempotencyKey })).rejects.toBeInstanceOf(
      TypeError,
    );
    expect(received).toHaveLength(0);
  });

  it('signs the button payload vector of protocol §3.4', async () => {
    const payload =
      '{"storeId":"amzn1.application-oa2-client.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","webCheckoutDetails":{"checkoutReviewReturnUrl":"https://localhost/test/CheckoutReview.php","checkoutResultReturnUrl":"https://localhost/test/CheckoutResult.php"}}';
    const client = makeClient();
    const signature = await client.signButtonPayload(payload);
    const text = buttonStringToSign('AMZN-PAY-RSASSA-PSS-V2', payload);
    expect(text).toBe(
      'AMZN-PAY-RSASSA-PSS-V2\n8dec52d799607be40f82d5c8e7ecb6c171e6591c41b1111a576b16076c89381c',
    );
    expect(verifyString(text, signature, publicKey, 'AMZN-PAY-RSASSA-PSS-V2')).toBe(true);
  });
});
