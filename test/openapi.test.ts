// The OpenAPI document generated from the zod route schemas (/docs/json), its readable page (/docs), and the
// route behaviour those schemas must not change (bad ids stay 400 invalid-session).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECKOUT_SESSION_ID_PATTERN } from '../src/checkout/completion.ts';
import { MESSAGE_CATALOGUE } from '../src/checkout/messages.ts';
import { type Harness, startHarness } from './support/harness.ts';

interface Operation {
  operationId?: string;
  tags?: string[];
  parameters?: Array<{ name: string; in: string; required?: boolean; schema?: { pattern?: string } }>;
  requestBody?: { content: Record<string, unknown> };
  responses: Record<string, { description: string; content?: Record<string, { schema: unknown }> }>;
}

let h: Harness;
let doc: { openapi: string; paths: Record<string, Record<string, Operation>> };
beforeAll(async () => {
  h = await startHarness();
  const res = await h.browser().fetch('/docs/json');
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  doc = JSON.parse(res.body);
});
afterAll(async () => {
  await h.close();
});

const COMPLETE = '/api/amazon-pay/checkout-sessions/{checkoutSessionId}/complete';
const STATUS = '/api/amazon-pay/checkout-sessions/{checkoutSessionId}';
const BUTTON = '/api/amazon-pay/button-config';

describe('/docs/json', () => {
  it('documents the JSON routes and the probes, nothing else', () => {
    expect(doc.openapi).toBe('3.1.0');
    const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(operations.sort()).toEqual(
      [`GET ${STATUS}`, 'GET /health/live', 'GET /health/ready', `POST ${BUTTON}`, `POST ${COMPLETE}`].sort(),
    );
  });

  it('response schemas for 200/202/400/403/404/429 (and the POSTs’ 413/415)', () => {
    const codes = (op: Operation) => Object.keys(op.responses).sort();
    expect(codes(doc.paths[BUTTON]!.post!)).toEqual(['200', '400', '403', '413', '415', '429', '503']);
    expect(codes(doc.paths[COMPLETE]!.post!)).toEqual([
      '200',
      '202',
      '400',
      '403',
      '404',
      '413',
      '415',
      '429',
      '503',
    ]);
    expect(codes(doc.paths[STATUS]!.get!)).toEqual(['200', '202', '400', '403', '404', '429', '503']);
    for (const item of Object.values(doc.paths)) {
      for (const op of Object.values(item)) {
        for (const [code, response] of Object.entries(op.responses)) {
          expect(response.description, code).not.toBe('Default Response');
          expect(response.content?.['application/json']?.schema, code).toBeTruthy();
        }
      }
    }
    const outcome = JSON.stringify(doc.paths[STATUS]!.get!.responses['200']!.content!['application/json']);
    expect(outcome).toContain('"completed"');
    expect(outcome).toContain('"failed"');
    // The Amazon buyer id and the charge permission stay server-side: not even in the contract.
    expect(outcome).not.toContain('buyerId');
    expect(outcome).not.toContain('chargePermissionId"');
    const error = doc.paths[STATUS]!.get!.responses['400']!.content!['application/json']!.schema;
    expect(error).toMatchObject({
      type: 'object',
      required: ['error'],
      properties: { error: { required: ['code', 'message'] } },
    });
  });

  it('the session id parameter carries the same UUID pattern as isValidCheckoutSessionId', () => {
    for (const op of [doc.paths[COMPLETE]!.post!, doc.paths[STATUS]!.get!]) {
      const param = op.parameters!.find((p) => p.name === 'checkoutSessionId')!;
      expect(param).toMatchObject({ in: 'path', required: true });
      expect(param.schema!.pattern).toBe(CHECKOUT_SESSION_ID_PATTERN.source);
    }
  });

  it('the POSTs take an application/json body', () => {
    for (const op of [doc.paths[BUTTON]!.post!, doc.paths[COMPLETE]!.post!]) {
      expect(Object.keys(op.requestBody!.content)).toEqual(['application/json']);
    }
  });
});

describe('/docs', () => {
  it('a readable page listing every operation, with no script and no external asset', async () => {
    const page = await h.browser().fetch('/docs');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    for (const operation of [`POST ${BUTTON}`, `POST ${COMPLETE}`, `GET ${STATUS}`, 'GET /health/ready']) {
      expect(page.body).toContain(`<code>${operation}</code>`);
    }
    expect(page.body).toContain('href="/docs/json"');
    expect(page.body).not.toContain('<script');
    expect(page.body).not.toMatch(/(src|href)="https?:/);
    // Descriptions with markup characters are escaped, not interpreted.
    expect(page.body).toContain(
      '<code>{ &quot;error&quot;: { &quot;code&quot;, &quot;message&quot; } }</code>',
    );
  });
});

describe('schemas keep the routes’ own behaviour', () => {
  it('a malformed id is still 400 invalid-session with the catalogue message, on both session routes', async () => {
    const browser = h.browser();
    await browser.startCheckout();
    for (const id of ['not-a-uuid', 'bd504926-f659-4ad7-a1a9-9a747aaf527Z', '%3Cb%3E']) {
      const status = await browser.fetch(`/api/amazon-pay/checkout-sessions/${id}`);
      const complete = await browser.fetch(`/api/amazon-pay/checkout-sessions/${id}/complete`, {
        method: 'POST',
        body: '{}',
      });
      for (const res of [status, complete]) {
        expect(res.status, id).toBe(400);
        expect(JSON.parse(res.body)).toEqual({
          error: { code: 'invalid-session', message: MESSAGE_CATALOGUE['invalid-session'] },
        });
      }
    }
  });

  it('a completed outcome answers exactly the documented fields', async () => {
    const browser = h.browser();
    await browser.startCheckout();
    const { checkoutSessionId } = h.sim.createSession({ buyer: 'source-document' });
    const res = await browser.fetch(`/api/amazon-pay/checkout-sessions/${checkoutSessionId}/complete`, {
      method: 'POST',
      body: '{}',
    });
    expect(res.status).toBe(200);
    const body = JSON.parse(res.body);
    expect(Object.keys(body).sort()).toEqual(['buyer', 'checkoutSessionId', 'paymentMethodSaved', 'state']);
    expect(Object.keys(body.buyer).sort()).toEqual([
      'billingAddress',
      'email',
      'name',
      'phone',
      'shippingAddress',
    ]);
    expect(body.paymentMethodSaved).toBe(true);
  });
});
