// The checkout in a real browser (Debian's Chromium): start page → simulator's hosted sign-in → return → result,
// driven through the UI only, against the real service with its built-in simulator on real ports.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_FAILURE_TEXT, MESSAGE_CATALOGUE } from '../src/checkout/messages.ts';
import type { Simulator } from '../src/simulator/index.ts';
import {
  type BrowserService,
  freePort,
  horizontalOverflow,
  launchChromium,
  MOBILE,
  newContext,
  screenshot,
  spawnServer,
  startBrowserService,
} from './support/browser.ts';

const RESULT_URL = /\/checkout\/amazon-pay\/result\/([0-9a-f-]{36})$/;

let browser: Browser;
let app: BrowserService;
let sim: Simulator;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  browser = await launchChromium();
  app = await startBrowserService();
  sim = app.service.simulator!;
}, 60_000);

afterAll(async () => {
  await app?.close();
  await browser?.close();
});

beforeEach(async () => {
  context = await newContext(browser);
  page = await context.newPage();
});

afterEach(async () => {
  await context?.close();
});

/** Opens the start page and waits for the script to render the (simulated) Amazon Pay button. */
async function openStart(p: Page, base = app.baseUrl): Promise<void> {
  await p.goto(`${base}/checkout`);
  await p.locator('#amazon-pay-button').waitFor({ state: 'visible' });
}

/** Clicks the Amazon Pay button and waits for the simulator's hosted sign-in page. */
async function clickAmazonPay(p: Page, simulatorUrl = sim.url): Promise<void> {
  await p.click('#amazon-pay-button');
  await p.waitForURL(`${simulatorUrl}/checkout/sign-in`);
  await p.locator('#continue').waitFor({ state: 'visible' });
}

async function choose(p: Page, buyer: string, outcome: string): Promise<void> {
  await p.check(`#buyer-${buyer}`);
  await p.check(`#outcome-${outcome}`);
}

/** The whole buyer journey up to the result page; returns the checkout session id from its URL. */
async function checkoutAs(p: Page, buyer: string): Promise<string> {
  await openStart(p);
  await clickAmazonPay(p);
  await choose(p, buyer, 'success');
  await p.click('#continue');
  await p.waitForURL(RESULT_URL);
  await p.locator('#buyer-name').waitFor();
  return RESULT_URL.exec(p.url())![1]!;
}

/** The text as the buyer sees it (rendered: `<br>` becomes a line break, hidden text is left out). */
function text(p: Page, selector: string): Promise<string> {
  // biome-ignore lint/performance/useDomNodeTextContent: Playwright's innerText is the rendered text on purpose.
  return p.locator(selector).innerText();
}

describe('success', () => {
  it('start page → Amazon Pay button → hosted page (source-document buyer, success) → buyer-details page', async () => {
    await openStart(page);
    expect(await page.title()).toContain('Checkout');
    await expect(page.locator('#checkout-message').count()).resolves.toBe(0);
    await screenshot(page, 'start');

    await clickAmazonPay(page);
    await choose(page, 'source-document', 'success');
    await screenshot(page, 'hosted-sign-in');

    await page.click('#continue');
    await page.waitForURL(RESULT_URL);
    const id = RESULT_URL.exec(page.url())![1]!;

    await expect(text(page, 'h1')).resolves.toBe('Amazon Pay is now saved as your payment method');
    await expect(page.getAttribute('#payment-method-saved', 'data-saved')).resolves.toBe('true');
    await expect(text(page, '#buyer-name')).resolves.toBe('name-1');
    await expect(text(page, '#buyer-email')).resolves.toBe('name@amazon.com');
    await expect(text(page, '#buyer-phone')).resolves.toBe('800-000-0000');
    const shipping = await text(page, '#shipping-address');
    expect(shipping.split('\n')).toEqual([
      'Susie Smith',
      '10 Ditka Ave',
      'Suite 2500',
      'Chicago, IL 60602',
      'US',
      'Phone: 800-000-0000',
    ]);
    const billing = await text(page, '#billing-address');
    expect(billing).toContain('440 Terry Ave');
    expect(billing).toContain('Seattle, WA 98121');
    await expect(text(page, '#checkout-session-id')).resolves.toBe(id);
    await screenshot(page, 'result');

    const stats = sim.stats(id);
    expect(stats.state).toBe('Completed');
    expect(stats.completeCalls).toBe(1);
    expect(stats.completeOutcomes).toBe(1);
    const record = await app.service.store.get(id);
    expect(record?.state).toBe('completed');
    expect(record?.chargePermissionId).toBe(stats.chargePermissionId);
  });

  it('reloading the result page (and revisiting the return URL) shows the same page with no new Complete call', async () => {
    const id = await checkoutAs(page, 'source-document');
    const before = await page.locator('main').innerHTML();
    const calls = sim.stats(id).completeCalls;
    expect(calls).toBe(1);

    for (let i = 0; i < 2; i += 1) {
      const response = await page.reload();
      expect(response?.status()).toBe(200);
      expect(response?.headers()['cache-control']).toBe('no-store');
      await expect(page.locator('main').innerHTML()).resolves.toBe(before);
    }
    // The browser's back-and-forward through Amazon's redirect lands on the return URL again.
    await page.goto(`${app.baseUrl}/checkout/amazon-pay/return?amazonCheckoutSessionId=${id}`);
    expect(page.url()).toBe(`${app.baseUrl}/checkout/amazon-pay/result/${id}`);
    await expect(page.locator('main').innerHTML()).resolves.toBe(before);

    expect(sim.stats(id).completeCalls).toBe(calls);
    expect(sim.stats(id).getCalls).toBe(0);
  });

  it('opened at localhost while PUBLIC_BASE_URL says 127.0.0.1: moves to 127.0.0.1 first, so the return finds its cookie', async () => {
    const port = new URL(app.baseUrl).port;
    await page.goto(`http://localhost:${port}/checkout`, { waitUntil: 'commit' });
    await page.waitForURL(`${app.baseUrl}/checkout`);
    await page.locator('#amazon-pay-button').waitFor({ state: 'visible' });
    await clickAmazonPay(page);
    await choose(page, 'no-phone', 'success');
    await page.click('#continue');
    await page.waitForURL(RESULT_URL);
    await expect(text(page, '#buyer-name')).resolves.toBe('Pat Nophone');
  });

  it('another browser cannot see the buyer details of this checkout', async () => {
    const id = await checkoutAs(page, 'source-document');
    const other = await newContext(browser);
    try {
      const stranger = await other.newPage();
      await stranger.goto(`${app.baseUrl}/checkout/amazon-pay/result/${id}`);
      expect(new URL(stranger.url()).pathname).toBe('/checkout');
      await expect(stranger.getAttribute('#checkout-message', 'data-code')).resolves.toBe('checkout-restart');
      await expect(stranger.content()).resolves.not.toContain('Susie Smith');
    } finally {
      await other.close();
    }
  });
});

describe('failures and cancel', () => {
  it('Declined at Amazon → back at the start page with the declined message', async () => {
    await openStart(page);
    await clickAmazonPay(page);
    await choose(page, 'source-document', 'Declined');
    await page.click('#continue');
    await page.waitForURL(`${app.baseUrl}/checkout?error=declined`);

    const message = page.locator('#checkout-message');
    await expect(message.getAttribute('data-code')).resolves.toBe('declined');
    await expect(message.getAttribute('role')).resolves.toBe('alert');
    await expect(message.textContent()).resolves.toContain(MESSAGE_CATALOGUE.declined);
    // The buyer can try again straight away: the button is rendered below the message.
    await page.locator('#amazon-pay-button').waitFor({ state: 'visible' });
    await screenshot(page, 'start-declined');
  });

  it('AmazonCanceled → the generic "not successful" message from the source document', async () => {
    await openStart(page);
    await clickAmazonPay(page);
    await choose(page, 'source-document', 'AmazonCanceled');
    await page.click('#continue');
    await page.waitForURL(`${app.baseUrl}/checkout?error=amazon-canceled`);
    await expect(text(page, '#checkout-message')).resolves.toContain(DEFAULT_FAILURE_TEXT);
    await screenshot(page, 'start-not-successful');
  });

  it('cancel on the hosted page → start page without an error message, ready to try again', async () => {
    await openStart(page);
    await clickAmazonPay(page);
    const before = sim.totals();
    await page.click('#cancel');
    await page.waitForURL(`${app.baseUrl}/checkout`);
    await page.locator('#amazon-pay-button').waitFor({ state: 'visible' });
    await expect(page.locator('#checkout-message').count()).resolves.toBe(0);
    await expect(page.locator('.alert').count()).resolves.toBe(0);
    expect(sim.totals().completeCalls).toBe(before.completeCalls);
  });

  it.each([
    ['a flipped signature', 'signature'],
    ['a payload redirected elsewhere', 'payloadJSON'],
  ] as const)(
    'a tampered button (%s) is refused by the simulator: error page, no session, no return',
    async (_label, field) => {
      const merchantRequests: string[] = [];
      page.on('request', (request) => {
        if (request.url().startsWith(app.baseUrl)) merchantRequests.push(new URL(request.url()).pathname);
      });
      await openStart(page);
      await page.evaluate((name) => {
        const input = document.querySelector<HTMLInputElement>(`form input[name="${name}"]`);
        if (!input) throw new Error(`no ${name} input`);
        if (name === 'signature') {
          const s = input.value;
          input.value = (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
        } else {
          input.value = input.value.replace(
            /"signInReturnUrl":"[^"]*"/,
            '"signInReturnUrl":"https://evil.example/steal"',
          );
        }
      }, field);

      const [response] = await Promise.all([
        page.waitForResponse((r) => r.url() === `${sim.url}/checkout/sign-in`),
        page.click('#amazon-pay-button'),
      ]);
      await page.waitForLoadState();
      expect(response.status()).toBe(403);
      expect(page.url()).toBe(`${sim.url}/checkout/sign-in`);
      const body = await text(page, 'body');
      expect(body).toContain('InvalidSignatureError');
      expect(body).toContain('No checkout session was created');
      await expect(page.locator('#continue').count()).resolves.toBe(0);
      await expect(page.locator('form').count()).resolves.toBe(0);
      await screenshot(page, `hosted-refused-${field}`);

      // Nothing went back to the merchant after the start page and its button configuration.
      expect(merchantRequests.filter((p) => p.startsWith('/checkout/amazon-pay/'))).toEqual([]);
    },
  );
});

describe('buyers with missing data', () => {
  it('a buyer without a phone number: "Not provided"', async () => {
    await checkoutAs(page, 'no-phone');
    await expect(text(page, '#buyer-name')).resolves.toBe('Pat Nophone');
    await expect(text(page, '#buyer-phone')).resolves.toBe('Not provided');
    await expect(text(page, '#shipping-address')).resolves.not.toContain('Phone');
    await expect(text(page, '#billing-address')).resolves.toContain('440 Terry Ave');
    await screenshot(page, 'result-no-phone');
  });

  it('a buyer without a billing address: "Not provided"', async () => {
    await checkoutAs(page, 'no-billing-address');
    await expect(text(page, '#buyer-name')).resolves.toBe('Sam Nobilling');
    await expect(text(page, '#billing-address')).resolves.toBe('Not provided');
    await expect(text(page, '#shipping-address')).resolves.toContain('Sam Nobilling');
    await screenshot(page, 'result-no-billing');
  });
});

describe('confirming page', () => {
  it('a slow Amazon shows "confirming", which refreshes itself into the buyer-details page', async () => {
    const slow = await startBrowserService({ returnWaitMs: 300, confirmingRefreshSeconds: 1 });
    try {
      const slowSim = slow.service.simulator!;
      slowSim.injectFault({ kind: 'latency', operation: 'complete', ms: 2_500 });
      await openStart(page, slow.baseUrl);
      await clickAmazonPay(page, slowSim.url);
      await choose(page, 'source-document', 'success');
      await page.click('#continue');
      await page.waitForURL(RESULT_URL);
      await page.locator('#confirming').waitFor();
      await expect(text(page, 'h1')).resolves.toContain('Confirming your Amazon Pay setup');
      await screenshot(page, 'confirming');

      await page.locator('#buyer-name').waitFor({ timeout: 15_000 });
      await expect(text(page, '#buyer-name')).resolves.toBe('name-1');
      const id = RESULT_URL.exec(page.url())![1]!;
      expect(slowSim.stats(id).completeOutcomes).toBe(1);
    } finally {
      await slow.close();
    }
  });
});

describe('narrow phone viewport (390×844)', () => {
  it('start, hosted and result pages fit without sideways scrolling', async () => {
    const phone = await newContext(browser, MOBILE);
    try {
      const p = await phone.newPage();
      await openStart(p);
      expect(await horizontalOverflow(p)).toBe(0);
      await screenshot(p, 'mobile-start');
      await clickAmazonPay(p);
      expect(await horizontalOverflow(p)).toBe(0);
      await screenshot(p, 'mobile-hosted-sign-in');
      await choose(p, 'source-document', 'success');
      await p.click('#continue');
      await p.waitForURL(RESULT_URL);
      await p.locator('#buyer-name').waitFor();
      expect(await horizontalOverflow(p)).toBe(0);
      await screenshot(p, 'mobile-result');
      await p.goto(`${app.baseUrl}/checkout?error=declined`);
      expect(await horizontalOverflow(p)).toBe(0);
      await screenshot(p, 'mobile-start-declined');
    } finally {
      await phone.close();
    }
  });
});

describe('`npm start` with no configuration', () => {
  it('node src/server.ts with no AMAZON_PAY_* runs the simulator and a buyer can check out in the browser', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'checkout-start-'));
    const [port, simulatorPort] = [await freePort(), await freePort()];
    const server = await spawnServer(port, {
      SIMULATOR_PORT: String(simulatorPort),
      PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
      DATA_DIR: dataDir,
    });
    try {
      expect(server.output()).toContain('Payments are SIMULATED');
      expect(server.output()).toContain(`Open http://127.0.0.1:${port}/checkout in a browser`);

      await openStart(page, server.baseUrl);
      await clickAmazonPay(page, `http://127.0.0.1:${simulatorPort}`);
      await choose(page, 'source-document', 'success');
      await page.click('#continue');
      await page.waitForURL(RESULT_URL);
      await page.locator('#buyer-name').waitFor();
      await expect(text(page, '#buyer-name')).resolves.toBe('name-1');
      await expect(text(page, '#shipping-address')).resolves.toContain('Susie Smith');
      await expect(text(page, '#billing-address')).resolves.toContain('Seattle');

      // The embedded defaults: the generated simulator key pair and the SQLite file live in DATA_DIR.
      expect(readdirSync(dataDir)).toContain('checkout.db');
      expect(await server.stop()).toBe(0);
      expect(server.output()).toContain('shutdown complete');
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- server output ---\n${server.output()}`, { cause: err });
    } finally {
      await server.stop(2_000);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
