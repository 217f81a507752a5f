// The simulator's hosted sign-in page over plain HTTP: button-signature check, the form, redirects, sessions.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buttonStringToSign, type SigningAlgorithm, signStringSync } from '../src/amazon-pay/signing.ts';
import { appendSessionId } from '../src/simulator/hosted-page.ts';
import { type Simulator, startSimulator } from '../src/simulator/index.ts';
import { sendSigned } from '../src/simulator/test-support.ts';

const privateKey = createPrivateKey(
  readFileSync(new URL('./fixtures/amazon-test-key-private-pkcs1.pem', import.meta.url)),
);
const publicKey = createPublicKey(
  readFileSync(new URL('./fixtures/amazon-test-key-public.pem', import.meta.url)),
);
const KEY_ID = 'SANDBOX-SIMTESTKEY0001';
const RETURN_URL = 'http://localhost:3000/checkout/amazon-pay/return';
const CANCEL_URL = 'http://localhost:3000/checkout?canceled=1';

// biome-ignore lint/suspicious/noExplicitAny: tests probe parsed JSON bodies freely.
type Json = Record<string, any>;

let sim: Simulator;
beforeEach(async () => {
  sim = await startSimulator({ publicKeys: { [KEY_ID]: publicKey } });
});
afterEach(async () => {
  await sim.close();
});

function buttonConfig(
  payload: Record<string, unknown>,
  algorithm: SigningAlgorithm = 'AMZN-PAY-RSASSA-PSS-V2',
) {
  const payloadJSON = JSON.stringify(payload);
  return {
    payloadJSON,
    signature: signStringSync(buttonStringToSign(algorithm, payloadJSON), privateKey, algorithm),
    publicKeyId: KEY_ID,
    algorithm,
  };
}

function savedWalletPayload(overrides: Record<string, unknown> = {}) {
  return {
    storeId: 'amzn1.application-oa2-client.0123456789abcdef',
    signInScopes: ['name', 'email', 'postalCode', 'shippingAddress', 'phoneNumber', 'billingAddress'],
    webCheckoutDetails: { signInReturnUrl: RETURN_URL, signInCancelUrl: CANCEL_URL },
    chargePermissionType: 'PaymentMethodOnFile',
    ...overrides,
  };
}

async function postForm(path: string, fields: Record<string, string>) {
  const res = await request(`${sim.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

function tokenOf(html: string): string {
  const m = /name="token" value="([^"]+)"/.exec(html);
  if (!m) throw new Error('no token in page');
  return m[1]!;
}

async function signIn(
  buyer: string,
  outcome: string,
  payload: Record<string, unknown> = savedWalletPayload(),
) {
  const page = await postForm('/checkout/sign-in', buttonConfig(payload));
  expect(page.status).toBe(200);
  const done = await postForm('/checkout/sign-in/continue', {
    token: tokenOf(page.text),
    buyer,
    outcome,
    action: 'continue',
  });
  expect(done.status).toBe(303);
  const location = done.headers.location as string;
  const id = new URL(location).searchParams.get('amazonCheckoutSessionId')!;
  return { location, id };
}

function complete(id: string) {
  return sendSigned(sim.url, {
    method: 'POST',
    path: `/v2/checkoutSessions/${id}/complete`,
    body: '{}',
    privateKey,
    publicKeyId: KEY_ID,
  });
}

describe('hosted sign-in page', () => {
  it('shows an accessible, CSP-protected page with the controls browser tests drive', async () => {
    const page = await postForm('/checkout/sign-in', buttonConfig(savedWalletPayload()));
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['cache-control']).toBe('no-store');
    const csp = page.headers['content-security-policy'] as string;
    const nonce = /style-src 'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce).toBeTruthy();
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("form-action 'self' http://localhost:3000");
    expect(page.text).toContain(`<style nonce="${nonce}">`);
    expect(page.text).not.toMatch(/<script|src="http|href="http/);
    expect(page.text).toContain('<html lang="en">');
    for (const id of [
      'buyer-source-document',
      'buyer-no-phone',
      'buyer-no-billing-address',
      'outcome-success',
      'outcome-BuyerCanceled',
      'outcome-Declined',
      'outcome-expire',
      'continue',
      'cancel',
    ]) {
      expect(page.text).toContain(`id="${id}"`);
    }
    expect(page.text).toMatch(/<label for="buyer-no-phone">/);
  });

  it('continues to signInReturnUrl with a session built from the payload and the chosen buyer', async () => {
    const { location, id } = await signIn('no-phone', 'success');
    expect(location).toBe(`${RETURN_URL}?amazonCheckoutSessionId=${id}`);
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const res = await complete(id);
    expect(res.status).toBe(200);
    const body = res.json() as Json;
    expect(body.buyer).toMatchObject({ name: 'Pat Nophone', phoneNumber: null });
    expect(body.billingAddress).not.toBeNull();
    expect(sim.stats(id)).toMatchObject({ completeOutcomes: 1, state: 'Completed' });
  });

  it('applies the payload scopes (name and email when absent)', async () => {
    const { signInScopes: _, ...withoutScopes } = savedWalletPayload();
    const { id } = await signIn('source-document', 'success', withoutScopes);
    const body = (await complete(id)).json() as Json;
    expect(body.buyer).toMatchObject({ name: 'name-1', email: 'name@amazon.com', phoneNumber: null });
    expect(body.billingAddress).toBeNull();
    expect(body.shippingAddress).toBeNull();
  });

  it('appends the id correctly to a return URL that has a query and a fragment', async () => {
    const payload = savedWalletPayload({
      webCheckoutDetails: { signInReturnUrl: `${RETURN_URL}?lang=de&x=a%20b#top` },
    });
    const { location, id } = await signIn('no-billing-address', 'success', payload);
    expect(location).toBe(`${RETURN_URL}?lang=de&x=a%20b&amazonCheckoutSessionId=${id}#top`);
    expect(appendSessionId('https://m.example/r?', 'abc')).toBe(
      'https://m.example/r?amazonCheckoutSessionId=abc',
    );
  });

  it('creates sessions whose Complete fails or has expired, per the chosen outcome', async () => {
    const canceled = await signIn('source-document', 'BuyerCanceled');
    const res = await complete(canceled.id);
    expect([res.status, (res.json() as Json).reasonCode]).toEqual([422, 'CheckoutSessionCanceled']);
    expect(sim.stats(canceled.id).reasonCode).toBe('BuyerCanceled');

    const declined = await signIn('source-document', 'Declined');
    expect((await complete(declined.id)).status).toBe(422);
    expect(sim.stats(declined.id).reasonCode).toBe('Declined');

    const expired = await signIn('source-document', 'expire');
    expect(sim.stats(expired.id)).toMatchObject({ state: 'Canceled', reasonCode: 'Expired' });
    expect(((await complete(expired.id)).json() as Json).reasonCode).toBe('InvalidCheckoutSessionStatus');
  });

  it('cancel redirects to signInCancelUrl without creating a session', async () => {
    const page = await postForm('/checkout/sign-in', buttonConfig(savedWalletPayload()));
    const done = await postForm('/checkout/sign-in/continue', {
      token: tokenOf(page.text),
      action: 'cancel',
    });
    expect(done.status).toBe(303);
    expect(done.headers.location).toBe(CANCEL_URL);
  });

  it('accepts GET with query fields and defaults to the V1 algorithm like checkout.js', async () => {
    const { algorithm: _, ...config } = buttonConfig(savedWalletPayload(), 'AMZN-PAY-RSASSA-PSS');
    const res = await request(`${sim.url}/checkout/sign-in?${new URLSearchParams(config)}`);
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toContain('id="continue"');
  });

  it('refuses a tampered payload or signature with an Amazon-style error page and no session', async () => {
    const config = buttonConfig(savedWalletPayload());
    const tampered = {
      ...config,
      payloadJSON: config.payloadJSON.replace(RETURN_URL, 'https://evil.example/steal'),
    };
    for (const fields of [
      tampered,
      { ...config, signature: config.signature.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) },
    ]) {
      const page = await postForm('/checkout/sign-in', fields);
      expect(page.status).toBe(403);
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(page.text).toContain('InvalidSignatureError');
      expect(page.text).not.toContain('name="token"');
      expect(page.text).not.toContain('evil.example');
    }
    // V2 signature presented as V1: different salt, refused.
    const relabelled = await postForm('/checkout/sign-in', { ...config, algorithm: 'AMZN-PAY-RSASSA-PSS' });
    expect(relabelled.status).toBe(403);
    const unknownKey = await postForm('/checkout/sign-in', { ...config, publicKeyId: 'SANDBOX-OTHER' });
    expect(unknownKey.status).toBe(403);
    expect(sim.totals()).toMatchObject({ completeCalls: 0, getCalls: 0 });
  });

  it('rejects missing fields, bad URLs and unknown scopes', async () => {
    expect((await postForm('/checkout/sign-in', {})).status).toBe(400);
    const badUrl = buttonConfig(
      savedWalletPayload({ webCheckoutDetails: { signInReturnUrl: 'javascript:alert(1)' } }),
    );
    expect((await postForm('/checkout/sign-in', badUrl)).status).toBe(400);
    const badScope = buttonConfig(savedWalletPayload({ signInScopes: ['name', 'creditCard'] }));
    expect((await postForm('/checkout/sign-in', badScope)).status).toBe(400);
    const notJson = { ...buttonConfig(savedWalletPayload()), payloadJSON: 'nope' };
    notJson.signature = signStringSync(
      buttonStringToSign('AMZN-PAY-RSASSA-PSS-V2', 'nope'),
      privateKey,
      'AMZN-PAY-RSASSA-PSS-V2',
    );
    expect((await postForm('/checkout/sign-in', notJson)).status).toBe(400);
  });

  it('escapes merchant data in the page', async () => {
    const page = await postForm(
      '/checkout/sign-in',
      buttonConfig(savedWalletPayload({ storeId: '<script>alert("x")</script>' })),
    );
    expect(page.status).toBe(200);
    expect(page.text).not.toContain('<script>');
    expect(page.text).toContain('&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;');
  });

  it('uses each page token once and validates the choices', async () => {
    const page = await postForm('/checkout/sign-in', buttonConfig(savedWalletPayload()));
    const token = tokenOf(page.text);
    const bad = await postForm('/checkout/sign-in/continue', {
      token,
      buyer: 'nobody',
      outcome: 'success',
      action: 'continue',
    });
    expect(bad.status).toBe(400);
    const ok = await postForm('/checkout/sign-in/continue', {
      token,
      buyer: 'no-phone',
      outcome: 'success',
      action: 'continue',
    });
    expect(ok.status).toBe(303);
    const again = await postForm('/checkout/sign-in/continue', {
      token,
      buyer: 'no-phone',
      outcome: 'success',
      action: 'continue',
    });
    expect(again.status).toBe(400);
    expect(again.text).toContain('expired or was already used');
    const getContinue = await request(`${sim.url}/checkout/sign-in/continue`);
    expect(getContinue.statusCode).toBe(405);
    await getContinue.body.dump();
  });
});
