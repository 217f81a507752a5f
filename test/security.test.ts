// Security headers on every route and status class (a header snapshot), CSP per page kind, HSTS by scheme,
// JSON POST hygiene (cross-site refusal, media type, size) and error bodies that never leak internals.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECKOUT_JS_URLS } from '../src/amazon-pay/endpoints.ts';
import { createService, type Service, type ServiceOptions } from '../src/compose.ts';
import {
  amazonStartPageDirectives,
  baselineHeaders,
  cspHeader,
  isAcceptedOrigin,
} from '../src/plugins/security.ts';
import { type Simulator, startSimulator } from '../src/simulator/index.ts';
import { Browser, baseServiceOptions, type HttpResult, publicKey, TEST_KEY_ID } from './support/harness.ts';

const PAGE_CSP =
  "default-src 'none';style-src 'self';script-src 'self';img-src 'self' data:;connect-src 'self';form-action 'self';frame-ancestors 'none';base-uri 'none'";
const JSON_CSP = "default-src 'none';frame-ancestors 'none'";
const AMAZON_NA =
  "default-src 'none';style-src 'self';script-src 'self' https://static-na.payments-amazon.com;img-src 'self' data: https://*.amazon.com https://*.payments-amazon.com;connect-src 'self' https://*.amazon.com https://*.payments-amazon.com;frame-src https://*.amazon.com https://*.payments-amazon.com;form-action 'self';frame-ancestors 'none';base-uri 'none'";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const LEAKY_MESSAGE = 'SELECT buyer_email FROM checkout_records WHERE id = $1 -- password=hunter2';

interface TestApp {
  baseUrl: string;
  sim: Simulator;
  service: Service;
  logs: string[];
  browser(): Browser;
  close(): Promise<void>;
}

/** The service as the harness builds it, plus test-only routes added before it listens (never in prod code). */
async function startApp(
  overrides: Partial<ServiceOptions> = {},
  addRoutes?: (app: FastifyInstance) => void,
): Promise<TestApp> {
  const dir = mkdtempSync(join(tmpdir(), 'checkout-security-'));
  const logs: string[] = [];
  const sim = await startSimulator({ publicKeys: { [TEST_KEY_ID]: publicKey } });
  const service = await createService(
    baseServiceOptions({
      logs,
      databaseUrl: `sqlite:${join(dir, 'checkout.db')}`,
      simulatorUrl: sim.url,
      overrides,
    }),
  );
  addRoutes?.(service.app);
  const baseUrl = await service.app.listen({ port: 0, host: '127.0.0.1' });
  return {
    baseUrl,
    sim,
    service,
    logs,
    browser: () => new Browser(baseUrl),
    async close() {
      await service.close();
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function throwingRoutes(app: FastifyInstance): void {
  const fail = async () => {
    throw new Error(LEAKY_MESSAGE);
  };
  app.get('/checkout/test-only/throws', fail);
  app.get('/api/test-only/throws', fail);
}

function cspKind(csp: unknown): string {
  if (csp === PAGE_CSP) return 'page';
  if (csp === JSON_CSP) return 'json';
  if (csp === AMAZON_NA) return 'amazon-start';
  return `unexpected: ${String(csp)}`;
}

function expectSecurityHeaders(res: HttpResult): void {
  expect(res.headers['x-content-type-options']).toBe('nosniff');
  expect(res.headers['referrer-policy']).toBe('no-referrer');
  expect(res.headers['x-frame-options']).toBe('DENY');
  expect(res.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
  expect(res.headers['x-powered-by']).toBeUndefined();
  // PUBLIC_BASE_URL is plain http here.
  expect(res.headers['strict-transport-security']).toBeUndefined();
  expect(res.headers['x-request-id']).toMatch(UUID);
}

describe('header snapshot over every route and status class', () => {
  let app: TestApp;
  beforeAll(async () => {
    // Real-Amazon mode (no simulator option): the start page carries checkout.js. Each case is its own client
    // (X-Forwarded-For through a trusted proxy), so only the 429 cases meet the limit.
    app = await startApp({ rateLimitMax: 3, trustProxy: true, returnWaitMs: 100 }, throwingRoutes);
  });
  afterAll(async () => {
    await app.close();
  });

  it('every response carries the security headers and a request id; CSP by content type', async () => {
    const results: Record<string, HttpResult> = {};
    let client = 0;
    const as = () => ({ 'x-forwarded-for': `198.51.100.${++client}` });

    results['GET /checkout → 200 page'] = await app.browser().fetch('/checkout', { headers: as() });
    results['GET return (bad id) → 303'] = await app
      .browser()
      .fetch('/checkout/amazon-pay/return?amazonCheckoutSessionId=nope', { headers: as() });
    results['GET /assets/checkout.css → 200'] = await app
      .browser()
      .fetch('/assets/checkout.css', { headers: as() });
    results['GET /docs → 200 page'] = await app.browser().fetch('/docs', { headers: as() });
    results['GET /docs/json → 200 JSON'] = await app.browser().fetch('/docs/json', { headers: as() });

    const bound = app.browser();
    const boundClient = as();
    results['POST button-config → 200 JSON'] = await bound.fetch('/api/amazon-pay/button-config', {
      method: 'POST',
      body: '{}',
      headers: boundClient,
    });
    const { checkoutSessionId } = app.sim.createSession();
    app.sim.injectFault({ kind: 'latency', operation: 'complete', ms: 600, checkoutSessionId });
    results['POST complete (slow Amazon) → 202 JSON'] = await bound.fetch(
      `/api/amazon-pay/checkout-sessions/${checkoutSessionId}/complete`,
      { method: 'POST', body: '{}', headers: boundClient },
    );
    results['GET session (bad id) → 400 JSON'] = await app
      .browser()
      .fetch('/api/amazon-pay/checkout-sessions/not-a-uuid', { headers: as() });
    results['POST complete (no binding) → 403 JSON'] = await app
      .browser()
      .fetch(`/api/amazon-pay/checkout-sessions/${checkoutSessionId}/complete`, {
        method: 'POST',
        body: '{}',
        headers: as(),
      });
    results['POST button-config (cross-site) → 403 JSON'] = await app
      .browser()
      .fetch('/api/amazon-pay/button-config', {
        method: 'POST',
        body: '{}',
        headers: { ...as(), origin: 'https://evil.example' },
      });
    results['GET /nowhere → 404 page'] = await app.browser().fetch('/nowhere', { headers: as() });
    results['GET /api/nowhere → 404 JSON'] = await app.browser().fetch('/api/nowhere', { headers: as() });
    results['POST button-config (20 KB) → 413 JSON'] = await app
      .browser()
      .fetch('/api/amazon-pay/button-config', {
        method: 'POST',
        body: JSON.stringify({ padding: 'x'.repeat(20_000) }),
        headers: as(),
      });
    results['POST button-config (text/plain) → 415 JSON'] = await app
      .browser()
      .fetch('/api/amazon-pay/button-config', {
        method: 'POST',
        body: '{}',
        headers: { ...as(), 'content-type': 'text/plain' },
      });

    const busy = as();
    for (let i = 0; i < 3; i += 1) {
      await app.browser().fetch('/api/amazon-pay/checkout-sessions/not-a-uuid', { headers: busy });
    }
    results['GET session (over the limit) → 429 JSON'] = await app
      .browser()
      .fetch('/api/amazon-pay/checkout-sessions/not-a-uuid', { headers: busy });
    results['GET return (over the limit) → 429 page'] = await app
      .browser()
      .fetch('/checkout/amazon-pay/return?amazonCheckoutSessionId=nope', { headers: busy });
    results['GET test-only page route that throws → 500 page'] = await app
      .browser()
      .fetch('/checkout/test-only/throws', { headers: as() });
    results['GET test-only API route that throws → 500 JSON'] = await app
      .browser()
      .fetch('/api/test-only/throws', { headers: as() });
    results['GET result/%E0%A4 (bad escape) → 400 page'] = await app
      .browser()
      .fetch('/checkout/amazon-pay/result/%E0%A4%A', { headers: as() });
    results['GET /health/ready → 200 JSON'] = await app.browser().fetch('/health/ready', { headers: as() });
    app.service.markDraining();
    results['GET /health/ready (draining) → 503 JSON'] = await app
      .browser()
      .fetch('/health/ready', { headers: as() });
    results['POST button-config (draining) → 503 JSON'] = await app
      .browser()
      .fetch('/api/amazon-pay/button-config', { method: 'POST', body: '{}', headers: as() });
    results['GET /checkout (draining) → 503 page'] = await app
      .browser()
      .fetch('/checkout', { headers: as() });

    for (const [name, res] of Object.entries(results)) {
      const expectedStatus = Number(/→ (\d{3})/.exec(name)![1]);
      expect(res.status, name).toBe(expectedStatus);
      expectSecurityHeaders(res);
    }
    expect(results['POST complete (slow Amazon) → 202 JSON']!.body).toContain('"state":"pending"');
    // Should checkout.js open Amazon's sign-in in a popup, the start page keeps it working; nothing else does.
    expect(results['GET /checkout → 200 page']!.headers['cross-origin-opener-policy']).toBe(
      'same-origin-allow-popups',
    );
    expect(results['GET /nowhere → 404 page']!.headers['cross-origin-opener-policy']).toBe('same-origin');
    // Retry-After where the client is told to come back.
    expect(
      Number(results['GET session (over the limit) → 429 JSON']!.headers['retry-after']),
    ).toBeGreaterThan(0);
    expect(Number(results['GET return (over the limit) → 429 page']!.headers['retry-after'])).toBeGreaterThan(
      0,
    );

    // Names every response shares (the security set among them), then per case what it adds.
    const named = Object.entries(results).map(
      ([name, res]) => [name, Object.keys(res.headers).sort()] as const,
    );
    const common = named[0]![1].filter((header) => named.every(([, names]) => names.includes(header)));
    expect(common).toMatchInlineSnapshot(`
      [
        "connection",
        "content-length",
        "content-security-policy",
        "cross-origin-opener-policy",
        "cross-origin-resource-policy",
        "date",
        "origin-agent-cluster",
        "referrer-policy",
        "x-content-type-options",
        "x-dns-prefetch-control",
        "x-download-options",
        "x-frame-options",
        "x-permitted-cross-domain-policies",
        "x-request-id",
        "x-xss-protection",
      ]
    `);
    const table = Object.fromEntries(
      named.map(([name, names]) => [
        name,
        `${cspKind(results[name]!.headers['content-security-policy'])} | ${names.filter((h) => !common.includes(h)).join(' ')}`,
      ]),
    );
    expect(table).toMatchInlineSnapshot(`
      {
        "GET /api/nowhere → 404 JSON": "json | content-type keep-alive",
        "GET /assets/checkout.css → 200": "json | cache-control content-type etag keep-alive",
        "GET /checkout (draining) → 503 page": "page | cache-control content-type retry-after",
        "GET /checkout → 200 page": "amazon-start | cache-control content-type keep-alive",
        "GET /docs → 200 page": "page | cache-control content-type keep-alive",
        "GET /docs/json → 200 JSON": "json | cache-control content-type keep-alive",
        "GET /health/ready (draining) → 503 JSON": "json | cache-control content-type keep-alive",
        "GET /health/ready → 200 JSON": "json | cache-control content-type keep-alive",
        "GET /nowhere → 404 page": "page | cache-control content-type keep-alive",
        "GET result/%E0%A4 (bad escape) → 400 page": "page | cache-control content-type keep-alive",
        "GET return (bad id) → 303": "json | keep-alive location x-ratelimit-limit x-ratelimit-remaining x-ratelimit-reset",
        "GET return (over the limit) → 429 page": "page | cache-control content-type keep-alive retry-after x-ratelimit-limit x-ratelimit-remaining x-ratelimit-reset",
        "GET session (bad id) → 400 JSON": "json | content-type keep-alive x-ratelimit-limit x-ratelimit-remaining x-ratelimit-reset",
        "GET session (over the limit) → 429 JSON": "json | content-type keep-alive retry-after x-ratelimit-limit x-ratelimit-remaining x-ratelimit-reset",
        "GET test-only API route that throws → 500 JSON": "json | content-type keep-alive x-ratelimit-limit x-ratelimit-remaining x-ratelimit-reset",
        "GET test-only page route that throws → 500 page": "page | cache-control content-type keep-alive",
        "POST button-config (20 KB) → 413 JSON": "json | content-type x-ratelimit-limit x-ratelimit-remaining x-ratelimit-reset",
        "POST button-config (cross-site) → 403 JSON": "json | content-type keep-alive x-ratelimit-limit x-ratelimit-remaining x-ratelimit-reset",
        "POST button-config (draining) → 503 JSON": "json | content-type retry-after",
        "POST button-config (text/plain) → 415 JSON": "json | content-type keep-alive x-ratelimit-limit x-ratelimit-remaining x-ratelimit-reset",
        "POST button-config → 200 JSON": "json | cache-control content-type keep-alive set-cookie x-ratelimit-limit x-ratelimit-remaining x-ratelimit-reset",
        "POST complete (no binding) → 403 JSON": "json | content-type keep-alive x-ratelimit-limit x-ratelimit-remaining x-ratelimit-reset",
        "POST complete (slow Amazon) → 202 JSON": "json | cache-control content-type keep-alive retry-after x-ratelimit-limit x-ratelimit-remaining x-ratelimit-reset",
      }
    `);
  });
});

describe('content security policy', () => {
  it('the real-Amazon start page policy (na), written out', () => {
    expect(cspHeader(amazonStartPageDirectives(CHECKOUT_JS_URLS.na))).toBe(AMAZON_NA);
  });

  it("real-Amazon mode: each region's checkout.js host and Amazon domains, on the start page only", () => {
    const eu = cspHeader(amazonStartPageDirectives(CHECKOUT_JS_URLS.eu));
    expect(eu).toContain("script-src 'self' https://static-eu.payments-amazon.com;");
    expect(eu).toContain('https://*.amazon.de');
    expect(eu).toContain('https://*.amazon.co.uk');
    expect(eu).not.toContain('https://*.amazon.com ');
    const jp = cspHeader(amazonStartPageDirectives(CHECKOUT_JS_URLS.jp));
    expect(jp).toContain("script-src 'self' https://static-fe.payments-amazon.com;");
    expect(jp).toContain('frame-src https://*.amazon.co.jp https://*.payments-amazon.com;');
    for (const policy of [eu, jp]) {
      expect(policy).toContain("form-action 'self';");
      expect(policy).not.toContain('unsafe');
    }
  });

  it('simulator mode: no Amazon origins; the button form may post to the simulator only', async () => {
    const app = await startApp({ simulator: { host: '127.0.0.1', port: 0 } });
    try {
      const page = await app.browser().fetch('/checkout');
      const simulatorOrigin = new URL(app.service.simulator!.url).origin;
      expect(page.headers['content-security-policy']).toBe(
        PAGE_CSP.replace("form-action 'self'", `form-action 'self' ${simulatorOrigin}`),
      );
      expect(page.headers['cross-origin-opener-policy']).toBe('same-origin');
      expect(page.body).not.toContain('payments-amazon.com');
    } finally {
      await app.close();
    }
  });

  it('the fallback for answers written before any hook matches what helmet sets', async () => {
    const app = await startApp();
    try {
      const settings = app.service.app.checkout.settings;
      const normal = {
        page: await app.browser().fetch('/nowhere'),
        json: await app.browser().fetch('/api/x'),
      };
      const early = {
        page: await app.browser().fetch('/checkout/amazon-pay/result/%E0%A4%A'),
        json: await app.browser().fetch(`/api/amazon-pay/checkout-sessions/${'a'.repeat(300)}`),
      };
      for (const kind of ['page', 'json'] as const) {
        const expected = baselineHeaders(settings, kind === 'page');
        for (const [name, value] of Object.entries(expected)) {
          expect(normal[kind].headers[name], `${kind} ${name} (helmet)`).toBe(value);
          expect(early[kind].headers[name], `${kind} ${name} (early)`).toBe(value);
        }
      }
      expect(early.page.status).toBe(400);
      expect(early.page.headers['content-type']).toMatch(/^text\/html/);
      expect(early.json.status).toBe(414);
      expect(JSON.parse(early.json.body)).toEqual({
        error: { code: 'bad-request', message: expect.any(String) },
      });
      // Fastify's own text would have echoed the path back.
      expect(early.page.body).not.toContain('%E0');
    } finally {
      await app.close();
    }
  });
});

describe('HSTS', () => {
  it('only when PUBLIC_BASE_URL is https, on pages and JSON alike', async () => {
    const app = await startApp({ publicBaseUrl: 'https://shop.example' });
    try {
      for (const path of ['/checkout', '/health/live', '/api/nowhere', '/nowhere']) {
        const res = await app.browser().fetch(path);
        expect(res.headers['strict-transport-security'], path).toBe('max-age=31536000');
      }
    } finally {
      await app.close();
    }
  });
});

describe('JSON POST hygiene', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startApp();
  });
  afterAll(async () => {
    await app.close();
  });

  const post = (headers: Record<string, string>, body = '{}') =>
    app.browser().fetch('/api/amazon-pay/button-config', { method: 'POST', body, headers });

  it('Sec-Fetch-Site: cross-site → 403 JSON; same-origin and none pass', async () => {
    const refused = await post({ 'sec-fetch-site': 'cross-site' });
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body)).toEqual({
      error: { code: 'cross-site-request', message: expect.any(String) },
    });
    // Refused before anything ran: no binding was created.
    expect(refused.headers['set-cookie']).toBeUndefined();
    for (const site of ['same-origin', 'same-site', 'none']) {
      expect((await post({ 'sec-fetch-site': site })).status, site).toBe(200);
    }
  });

  it("an Origin other than PUBLIC_BASE_URL's → 403; the public origin passes", async () => {
    for (const origin of [
      'https://evil.example',
      'null',
      'http://localhost:3000.evil.example',
      'https://localhost:3000',
    ]) {
      const res = await post({ origin });
      expect(res.status, origin).toBe(403);
      expect(res.headers['set-cookie']).toBeUndefined();
    }
    expect((await post({ origin: 'http://localhost:3000' })).status).toBe(200);
    // A plain-http loopback PUBLIC_BASE_URL also accepts its loopback twin on the same port (a developer's
    // machine opened as 127.0.0.1); nothing else.
    expect((await post({ origin: 'http://127.0.0.1:3000' })).status).toBe(200);
    expect((await post({ origin: 'http://127.0.0.1:3001' })).status).toBe(403);
  });

  it('the loopback twin rule never applies to a public https origin', () => {
    expect(isAcceptedOrigin('https://shop.example', 'https://shop.example')).toBe(true);
    expect(isAcceptedOrigin('http://localhost', 'https://shop.example')).toBe(false);
    expect(isAcceptedOrigin('http://127.0.0.1:8080', 'http://localhost:8080')).toBe(true);
    // A pure function over header values: no request goes to this LAN address.
    expect(isAcceptedOrigin('http://192.168.1.2:8080', 'http://localhost:8080')).toBe(false);
  });

  it('anything but application/json → 415 JSON, before the body is parsed', async () => {
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
    ]) {
      const res = await post({ 'content-type': type });
      expect(res.status, type).toBe(415);
      expect(JSON.parse(res.body)).toEqual({
        error: { code: 'unsupported-media-type', message: 'Send the request as application/json.' },
      });
    }
    const bare = await app.browser().fetch('/api/amazon-pay/button-config', { method: 'POST' });
    expect(bare.status).toBe(415);
    expect((await post({ 'content-type': 'application/json; charset=utf-8' })).status).toBe(200);
  });

  it('a body over 16 KiB → 413 JSON; a body that is not an object → 400 JSON', async () => {
    const big = await post({}, JSON.stringify({ padding: 'x'.repeat(17 * 1024) }));
    expect(big.status).toBe(413);
    expect(JSON.parse(big.body)).toEqual({
      error: { code: 'payload-too-large', message: expect.any(String) },
    });
    for (const body of ['[]', '"x"', '{"a":', '']) {
      const res = await post({}, body);
      expect(res.status, body).toBe(400);
      expect(JSON.parse(res.body).error.code).toBe('bad-request');
    }
  });

  it('GET routes are not subject to the POST rules', async () => {
    const res = await app.browser().fetch('/health/live', { headers: { origin: 'https://evil.example' } });
    expect(res.status).toBe(200);
  });
});

describe('errors never leak internals', () => {
  it('a throwing route answers a generic 500: no message, no SQL, no stack; the log has the details', async () => {
    const app = await startApp({}, throwingRoutes);
    try {
      for (const path of ['/checkout/test-only/throws', '/api/test-only/throws']) {
        const res = await app.browser().fetch(path);
        expect(res.status).toBe(500);
        expect(res.body).not.toContain('SELECT');
        expect(res.body).not.toContain('hunter2');
        expect(res.body).not.toMatch(/at .*\.ts:\d+/);
        expect(res.body).toContain('Something went wrong on our side.');
      }
      expect(JSON.parse((await app.browser().fetch('/api/test-only/throws')).body)).toEqual({
        error: { code: 'internal-error', message: 'Something went wrong on our side. Please try again.' },
      });
      expect(app.logs.some((line) => line.includes('request failed'))).toBe(true);
    } finally {
      await app.close();
    }
  });
});
