// HTML views: escaping by construction, the pages' content contract, CSP-compatibility, and the start script.
import { readFileSync } from 'node:fs';
import vm from 'node:vm';
import { describe, expect, it, vi } from 'vitest';
import type { BuyerDetails, PostalAddress } from '../src/store/store.ts';
import { STATIC_ASSETS } from '../src/views/assets.ts';
import { escapeHtml, html, isSafeHtml, raw, safeUrl } from '../src/views/html.ts';
import {
  addressLines,
  clampRefreshSeconds,
  renderConfirmingPage,
  renderErrorPage,
  renderResultPage,
  renderStartPage,
} from '../src/views/pages.ts';

const EVIL = `<script>alert("x")</script> & 'q' \`t\` <img src=x onerror=alert(1)> Zoë 北京 🎉`;
const CHECKOUT_JS = 'https://static-na.payments-amazon.com/checkout.js';
const SIM_SIGN_IN = 'http://127.0.0.1:4010/sign-in';
const CONFIG_URL = '/api/amazon-pay/button-config';

// --- a small, strict HTML inspector (tags and attributes only: text never contains `<` once escaped) ---

interface Tag {
  name: string;
  attrs: Map<string, string>;
}

const TAG_RE = /<([a-zA-Z][\w-]*)((?:\s+[^\s"'>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*)\s*\/?>/g;
const ATTR_RE = /([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;

function decode(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&#96;/g, '`')
    .replace(/&amp;/g, '&');
}

function tags(page: string): Tag[] {
  return [...page.matchAll(TAG_RE)].map((m) => {
    const attrs = new Map<string, string>();
    for (const a of (m[2] ?? '').matchAll(ATTR_RE)) {
      attrs.set(a[1]!.toLowerCase(), decode(a[2] ?? a[3] ?? a[4] ?? ''));
    }
    return { name: m[1]!.toLowerCase(), attrs };
  });
}

function byId(page: string, id: string): Tag | undefined {
  return tags(page).find((t) => t.attrs.get('id') === id);
}

/** Inner markup of the element with this id (elements used here do not nest their own tag name). */
function innerOf(page: string, id: string): string {
  const open = new RegExp(`<([a-z0-9]+)[^>]*\\sid="${id}"[^>]*>`).exec(page);
  if (!open) throw new Error(`no element #${id}`);
  const start = open.index + open[0].length;
  const end = page.indexOf(`</${open[1]}>`, start);
  return page.slice(start, end);
}

function textOf(page: string, id: string): string {
  return decode(
    innerOf(page, id)
      .replace(/<br>/g, '\n')
      .replace(/<[^>]+>/g, ''),
  ).trim();
}

const SAMPLE_BILLING: PostalAddress = {
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

const SAMPLE_SHIPPING: PostalAddress = {
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

const SAMPLE_BUYER: BuyerDetails = {
  buyerId: 'amzn1.account.AAA',
  name: 'name-1',
  email: 'name@amazon.com',
  phone: '800-000-0000',
  billingAddress: SAMPLE_BILLING,
  shippingAddress: SAMPLE_SHIPPING,
};

function evilAddress(): PostalAddress {
  return {
    name: `${EVIL} name`,
    addressLine1: `${EVIL} l1`,
    addressLine2: `${EVIL} l2`,
    addressLine3: `${EVIL} l3`,
    city: `${EVIL} city`,
    county: `${EVIL} county`,
    district: `${EVIL} district`,
    stateOrRegion: `${EVIL} region`,
    postalCode: `${EVIL} code`,
    countryCode: `${EVIL} cc`,
    phoneNumber: `${EVIL} phone`,
  };
}

function allPages(): { label: string; page: string; allowedUrls: string[] }[] {
  return [
    {
      label: 'start (simulator)',
      page: renderStartPage({
        button: { mode: 'simulator', simulatorSignInUrl: SIM_SIGN_IN },
        buttonConfigUrl: CONFIG_URL,
        message: { code: 'BUYER_CANCELED', text: 'Your request was not successful. Please try again.' },
        cartSummary: { items: [{ name: 'Mug', quantity: 2, amount: '$24.00' }], total: '$24.00', note: 'n' },
      }),
      allowedUrls: [SIM_SIGN_IN],
    },
    {
      label: 'start (amazon)',
      page: renderStartPage({
        storeName: 'Tea House',
        button: { mode: 'amazon', checkoutJsUrl: CHECKOUT_JS },
        buttonConfigUrl: CONFIG_URL,
      }),
      allowedUrls: [CHECKOUT_JS],
    },
    {
      label: 'result',
      page: renderResultPage({
        checkoutSessionId: 'bd504926-f659-4ad7-a1a9-9a747aaf5275',
        buyer: SAMPLE_BUYER,
        chargePermissionSaved: true,
        startUrl: '/checkout',
      }),
      allowedUrls: [],
    },
    {
      label: 'confirming',
      page: renderConfirmingPage({
        checkoutSessionId: 'bd504926-f659-4ad7-a1a9-9a747aaf5275',
        refreshSeconds: 2,
        statusUrl: '/checkout/amazon-pay/result/bd504926-f659-4ad7-a1a9-9a747aaf5275',
      }),
      allowedUrls: [],
    },
    ...[404, 429, 500, 503].map((statusCode) => ({
      label: `error ${statusCode}`,
      page: renderErrorPage({
        statusCode,
        title: 'Busy',
        message: 'Please try again.',
        startUrl: '/checkout',
      }),
      allowedUrls: [],
    })),
  ];
}

describe('html tagged template', () => {
  it('escapes & < > " \' ` in every interpolated string', () => {
    expect(html`<p title="${`a"b'c`}">${'<b>&`'}</p>`.toString()).toBe(
      '<p title="a&quot;b&#39;c">&lt;b&gt;&amp;&#96;</p>',
    );
    expect(escapeHtml('&amp;')).toBe('&amp;amp;');
  });

  it('renders numbers, null/undefined as empty, and joins arrays escaping their strings', () => {
    expect(html`${42}|${null}|${undefined}|${[html`<i>a</i>`, '<b>', 7]}`.toString()).toBe(
      '42|||<i>a</i>&lt;b&gt;7',
    );
  });

  it('keeps nested fragments and raw() constants as markup, and nothing else', () => {
    const inner = html`<em>${'<x>'}</em>`;
    expect(html`<p>${inner}</p>`.toString()).toBe('<p><em>&lt;x&gt;</em></p>');
    expect(html`${raw('<hr>')}`.toString()).toBe('<hr>');
    expect(isSafeHtml(inner)).toBe(true);
    expect(isSafeHtml('<hr>')).toBe(false);
    // A lookalike object is not SafeHtml and is refused rather than printed.
    const fake = { toString: () => '<script>' } as unknown as string;
    expect(() => html`${fake}`).toThrow(TypeError);
    expect(() => html`${true as unknown as string}`).toThrow(TypeError);
  });

  it('allows only http(s) and relative URLs in URL attributes', () => {
    expect(safeUrl('/checkout?error=x')).toBe('/checkout?error=x');
    expect(safeUrl('https://shop.example/checkout')).toBe('https://shop.example/checkout');
    expect(safeUrl('checkout')).toBe('checkout');
    for (const bad of ['javascript:alert(1)', ' JavaScript:alert(1)', 'java\tscript:x', 'data:text/html,x']) {
      expect(safeUrl(bad)).toBe('#');
    }
    for (const bad of ['//evil.example', '/\\evil.example', '\\\\evil', '']) {
      expect(safeUrl(bad)).toBe('#');
    }
  });
});

describe('every page', () => {
  for (const { label, page, allowedUrls } of allPages()) {
    describe(label, () => {
      const all = tags(page);

      it('has a document shell with lang, viewport, title, stylesheet, and landmarks', () => {
        expect(page.startsWith('<!doctype html>')).toBe(true);
        expect(all.find((t) => t.name === 'html')?.attrs.get('lang')).toBe('en');
        expect(all.some((t) => t.name === 'meta' && t.attrs.get('name') === 'viewport')).toBe(true);
        expect(all.some((t) => t.name === 'meta' && t.attrs.has('charset'))).toBe(true);
        expect(
          all.some(
            (t) =>
              t.name === 'link' &&
              t.attrs.get('rel') === 'stylesheet' &&
              t.attrs.get('href') === '/assets/checkout.css',
          ),
        ).toBe(true);
        expect(page).toMatch(/<title>[^<]+<\/title>/);
        for (const landmark of ['header', 'main', 'footer', 'h1']) {
          expect(all.filter((t) => t.name === landmark)).toHaveLength(1);
        }
      });

      it('works under the CSP: no inline script, style attribute, event handler or <style>', () => {
        for (const tag of all) {
          for (const name of tag.attrs.keys()) {
            expect(name).not.toBe('style');
            expect(name).not.toMatch(/^on/);
          }
          if (tag.name === 'script') expect(tag.attrs.get('src')).toBeTruthy();
          expect(tag.name).not.toBe('style');
        }
        expect(page.match(/<script\b/g)?.length ?? 0).toBe(page.match(/<\/script>/g)?.length ?? 0);
        expect(page).not.toMatch(/javascript:/i);
      });

      it('loads nothing external and links only to provided URLs', () => {
        const urls = page.match(/https?:\/\/[^\s"'<>]+/g) ?? [];
        for (const url of urls) expect(allowedUrls).toContain(decode(url));
        for (const tag of all) {
          for (const attr of ['src', 'href']) {
            const value = tag.attrs.get(attr);
            if (value === undefined || value === CHECKOUT_JS) continue;
            expect(value).toMatch(/^[/#]/);
            expect(value).not.toMatch(/^\/\//);
          }
        }
      });

      it('uses each id once', () => {
        const ids = all.map((t) => t.attrs.get('id')).filter((id) => id !== undefined);
        expect(new Set(ids).size).toBe(ids.length);
      });
    });
  }
});

describe('renderStartPage', () => {
  it('shows the catalogue message for a code in an alert box', () => {
    const text = 'Your request to save Amazon Pay as a payment method was not successful. Please try again.';
    const page = renderStartPage({
      button: { mode: 'simulator', simulatorSignInUrl: SIM_SIGN_IN },
      buttonConfigUrl: CONFIG_URL,
      message: { code: 'BUYER_CANCELED', text },
    });
    const alert = byId(page, 'checkout-message');
    expect(alert?.attrs.get('role')).toBe('alert');
    expect(alert?.attrs.get('data-code')).toBe('BUYER_CANCELED');
    expect(textOf(page, 'checkout-message')).toContain(text);
    expect(page).toContain('Save Amazon Pay as your payment method');
  });

  it('shows no message and no alert without one', () => {
    const page = renderStartPage({
      button: { mode: 'simulator', simulatorSignInUrl: SIM_SIGN_IN },
      buttonConfigUrl: CONFIG_URL,
    });
    expect(byId(page, 'checkout-message')).toBeUndefined();
    expect(page).not.toContain('role="alert"');
    expect(page).not.toContain('not successful');
  });

  it('escapes the message, its code and the store name', () => {
    const page = renderStartPage({
      storeName: EVIL,
      button: { mode: 'simulator', simulatorSignInUrl: SIM_SIGN_IN },
      buttonConfigUrl: CONFIG_URL,
      message: { code: EVIL, text: EVIL },
      cartSummary: { items: [{ name: EVIL, amount: EVIL }], total: EVIL, note: EVIL },
    });
    expect(page).not.toContain(EVIL);
    expect(page).not.toContain('<script>alert');
    expect(page).not.toContain('<img');
    expect(byId(page, 'checkout-message')?.attrs.get('data-code')).toBe(EVIL);
    expect(textOf(page, 'checkout-message')).toContain(EVIL);
    expect(page).toContain(escapeHtml(EVIL));
  });

  it('simulator mode: container carries the data for the script; only start.js is loaded', () => {
    const page = renderStartPage({
      button: { mode: 'simulator', simulatorSignInUrl: SIM_SIGN_IN },
      buttonConfigUrl: CONFIG_URL,
    });
    const container = byId(page, 'AmazonPayButton');
    expect(container?.attrs.get('data-button-config-url')).toBe(CONFIG_URL);
    expect(container?.attrs.get('data-button-mode')).toBe('simulator');
    expect(container?.attrs.get('data-simulator-sign-in-url')).toBe(SIM_SIGN_IN);
    const scripts = tags(page).filter((t) => t.name === 'script');
    expect(scripts.map((s) => s.attrs.get('src'))).toEqual(['/assets/start.js']);
  });

  it('amazon mode: checkout.js is loaded before start.js, no simulator URL', () => {
    const page = renderStartPage({
      button: { mode: 'amazon', checkoutJsUrl: CHECKOUT_JS },
      buttonConfigUrl: CONFIG_URL,
    });
    const container = byId(page, 'AmazonPayButton');
    expect(container?.attrs.get('data-button-mode')).toBe('amazon');
    expect(container?.attrs.has('data-simulator-sign-in-url')).toBe(false);
    const scripts = tags(page).filter((t) => t.name === 'script');
    expect(scripts.map((s) => s.attrs.get('src'))).toEqual([CHECKOUT_JS, '/assets/start.js']);
  });

  it('neutralises script URLs in URL attributes', () => {
    const page = renderStartPage({
      button: { mode: 'simulator', simulatorSignInUrl: 'javascript:alert(1)' },
      buttonConfigUrl: 'javascript:alert(2)',
    });
    expect(page).not.toMatch(/javascript:/i);
  });

  it('uses the merchant store name, defaulting to Example Store', () => {
    const base = {
      button: { mode: 'simulator', simulatorSignInUrl: SIM_SIGN_IN },
      buttonConfigUrl: CONFIG_URL,
    } as const;
    expect(renderStartPage(base)).toContain('<p class="brand">Example Store</p>');
    expect(renderStartPage({ ...base, storeName: '   ' })).toContain('<p class="brand">Example Store</p>');
    const page = renderStartPage({ ...base, storeName: 'Tea House' });
    expect(page).toContain('<p class="brand">Tea House</p>');
    expect(page).toContain('<title>Checkout — Tea House</title>');
  });
});

describe('renderResultPage', () => {
  it("shows the buyer's details and both addresses as returned", () => {
    const page = renderResultPage({
      checkoutSessionId: 'bd504926-f659-4ad7-a1a9-9a747aaf5275',
      buyer: SAMPLE_BUYER,
      chargePermissionSaved: true,
      startUrl: '/checkout',
    });
    expect(tags(page).find((t) => t.name === 'h1')).toBeDefined();
    expect(page).toContain('Amazon Pay is now saved as your payment method');
    expect(textOf(page, 'buyer-name')).toBe('name-1');
    expect(textOf(page, 'buyer-email')).toBe('name@amazon.com');
    expect(textOf(page, 'buyer-phone')).toBe('800-000-0000');
    expect(textOf(page, 'billing-address').split('\n')).toEqual([
      'Work',
      '440 Terry Ave',
      'Seattle, WA 98121',
      'US',
      'Phone: 800-000-0000',
    ]);
    expect(textOf(page, 'shipping-address').split('\n')).toEqual([
      'Susie Smith',
      '10 Ditka Ave',
      'Suite 2500',
      'Chicago, IL 60602',
      'US',
      'Phone: 800-000-0000',
    ]);
    expect(byId(page, 'payment-method-saved')?.attrs.get('data-saved')).toBe('true');
    expect(tags(page).some((t) => t.name === 'a' && t.attrs.get('href') === '/checkout')).toBe(true);
    expect(page).toContain('<dl');
  });

  it('shows "Not provided" for every missing field', () => {
    const page = renderResultPage({
      checkoutSessionId: 'id-1',
      buyer: {
        buyerId: null,
        name: null,
        email: null,
        phone: null,
        billingAddress: null,
        shippingAddress: null,
      },
      chargePermissionSaved: true,
      startUrl: '/checkout',
    });
    for (const id of ['buyer-name', 'buyer-email', 'buyer-phone', 'billing-address', 'shipping-address']) {
      expect(textOf(page, id)).toBe('Not provided');
    }
    const emptyAddress = renderResultPage({
      checkoutSessionId: 'id-1',
      buyer: {
        ...SAMPLE_BUYER,
        phone: '  ',
        billingAddress: { addressLine1: '', city: null },
        shippingAddress: {},
      },
      chargePermissionSaved: true,
      startUrl: '/checkout',
    });
    for (const id of ['buyer-phone', 'billing-address', 'shipping-address']) {
      expect(textOf(emptyAddress, id)).toBe('Not provided');
    }
  });

  it('never lets markup, quotes or </script> in any buyer field or the session id through unescaped', () => {
    const page = renderResultPage({
      storeName: EVIL,
      checkoutSessionId: EVIL,
      buyer: {
        buyerId: EVIL,
        name: EVIL,
        email: EVIL,
        phone: EVIL,
        billingAddress: evilAddress(),
        shippingAddress: evilAddress(),
      },
      chargePermissionSaved: true,
      startUrl: '/checkout',
    });
    expect(page).not.toContain(EVIL);
    expect(page).not.toContain('</script>');
    expect(page).not.toContain('<script');
    expect(page).not.toContain('<img');
    expect(page).not.toMatch(/[^\\]"x"/);
    for (const tag of tags(page)) {
      for (const name of tag.attrs.keys()) expect(name).not.toMatch(/^on/);
    }
    // Round trip: what the buyer reads is exactly what Amazon returned, unicode included.
    expect(textOf(page, 'buyer-name')).toBe(EVIL);
    expect(textOf(page, 'buyer-email')).toBe(EVIL);
    expect(textOf(page, 'buyer-phone')).toBe(EVIL);
    expect(textOf(page, 'checkout-session-id')).toBe(EVIL);
    const lines = textOf(page, 'shipping-address').split('\n');
    expect(lines).toContain(`${EVIL} name`);
    expect(lines).toContain(`${EVIL} l3`);
    expect(lines).toContain(`${EVIL} district`);
    expect(lines).toContain(`${EVIL} city, ${EVIL} region ${EVIL} code`);
    expect(lines).toContain(`Phone: ${EVIL} phone`);
    expect(page).toContain('Zoë 北京 🎉');
  });

  it('says so when the payment method was not saved', () => {
    const page = renderResultPage({
      checkoutSessionId: 'id-1',
      buyer: SAMPLE_BUYER,
      chargePermissionSaved: false,
      startUrl: '/checkout',
    });
    expect(byId(page, 'payment-method-saved')?.attrs.get('data-saved')).toBe('false');
    expect(page).not.toContain('now saved');
  });
});

describe('addressLines', () => {
  it('keeps county and district outside the US when they add information', () => {
    expect(
      addressLines({
        addressLine1: '1-2-3 Shibuya',
        district: 'Shibuya-ku',
        city: 'Tokyo',
        county: 'Kanto',
        postalCode: '150-0002',
        countryCode: 'jp',
      }),
    ).toEqual(['1-2-3 Shibuya', 'Shibuya-ku', 'Tokyo, 150-0002', 'Kanto', 'JP']);
    expect(addressLines(null)).toEqual([]);
    expect(addressLines({ postalCode: 'SW1A 1AA' })).toEqual(['SW1A 1AA']);
  });
});

describe('renderConfirmingPage', () => {
  it('refreshes itself without script and announces politely', () => {
    const page = renderConfirmingPage({
      checkoutSessionId: EVIL,
      refreshSeconds: 3,
      statusUrl: '/checkout/amazon-pay/result/abc',
    });
    const refresh = tags(page).find((t) => t.name === 'meta' && t.attrs.get('http-equiv') === 'refresh');
    expect(refresh?.attrs.get('content')).toBe('3');
    expect(byId(page, 'confirming')?.attrs.get('aria-live')).toBe('polite');
    expect(page).toContain('Confirming your Amazon Pay setup…');
    expect(
      tags(page).some((t) => t.name === 'a' && t.attrs.get('href') === '/checkout/amazon-pay/result/abc'),
    ).toBe(true);
    expect(page).not.toContain(EVIL);
    expect(tags(page).some((t) => t.name === 'script')).toBe(false);
  });

  it('clamps the refresh interval', () => {
    expect(clampRefreshSeconds(0)).toBe(1);
    expect(clampRefreshSeconds(Number.NaN)).toBe(3);
    expect(clampRefreshSeconds(3600)).toBe(60);
    expect(clampRefreshSeconds(2.4)).toBe(2);
  });
});

describe('renderErrorPage', () => {
  it.each([404, 429, 500, 503])('renders a %i page with an optional way back', (statusCode) => {
    const page = renderErrorPage({ statusCode, title: 'We are busy', message: EVIL, startUrl: '/checkout' });
    expect(byId(page, 'error-page')?.attrs.get('data-status')).toBe(String(statusCode));
    expect(page).toContain(`Error ${statusCode}`);
    expect(page).toContain('<h1 class="page-title">We are busy</h1>');
    expect(page).not.toContain(EVIL);
    expect(tags(page).some((t) => t.name === 'a' && t.attrs.get('href') === '/checkout')).toBe(true);
    const bare = renderErrorPage({ statusCode, title: 'Not found', message: 'Nothing here.' });
    expect(bare).not.toContain('Return to checkout');
  });
});

describe('static assets', () => {
  it('serves the stylesheet and start script with types and content etags', () => {
    expect([...STATIC_ASSETS.keys()].sort()).toEqual(['/assets/checkout.css', '/assets/start.js']);
    const css = STATIC_ASSETS.get('/assets/checkout.css')!;
    const js = STATIC_ASSETS.get('/assets/start.js')!;
    expect(css.contentType).toBe('text/css; charset=utf-8');
    expect(js.contentType).toBe('text/javascript; charset=utf-8');
    expect(css.etag).toMatch(/^"[\w-]{27}"$/);
    expect(css.etag).not.toBe(js.etag);
    expect(js.body.equals(readFileSync(new URL('../src/views/assets/start.js', import.meta.url)))).toBe(true);
  });

  it('the stylesheet loads nothing external', () => {
    const css = STATIC_ASSETS.get('/assets/checkout.css')!.body.toString('utf8');
    expect(css).not.toMatch(/@import|url\(|https?:\/\//);
    expect(css).toContain(':focus-visible');
  });

  it('the palette meets WCAG AA contrast (4.5:1 for text, 3:1 for the focus ring)', () => {
    const css = STATIC_ASSETS.get('/assets/checkout.css')!.body.toString('utf8');
    const vars = new Map(
      [...css.matchAll(/--(color-[\w-]+):\s*(#[0-9a-f]{6})/gi)].map((m) => [m[1]!, m[2]!]),
    );
    const color = (name: string) => (name.startsWith('#') ? name : vars.get(`color-${name}`)!);
    const luminance = (hex: string) => {
      const [r, g, b] = [1, 3, 5].map((i) => {
        const c = Number.parseInt(hex.slice(i, i + 2), 16) / 255;
        return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
      });
      return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
    };
    const contrast = (a: string, b: string) => {
      const [hi, lo] = [luminance(color(a)), luminance(color(b))].sort((x, y) => y - x);
      return (hi! + 0.05) / (lo! + 0.05);
    };
    const textPairs: [string, string][] = [
      ['text', 'bg'],
      ['text', 'surface'],
      ['muted', 'surface'],
      ['muted', 'bg'],
      ['primary', 'surface'],
      ['primary', 'bg'],
      ['primary-hover', '#eef4fb'],
      ['#ffffff', 'primary'],
      ['#ffffff', 'primary-hover'],
      ['error-text', 'error-bg'],
      ['success-text', 'success-bg'],
      ['warning-text', 'warning-bg'],
      ['amazon-ink', 'amazon-gold'],
      ['amazon-ink', 'amazon-gold-hover'],
    ];
    for (const [fg, bg] of textPairs) expect(contrast(fg, bg), `${fg} on ${bg}`).toBeGreaterThanOrEqual(4.5);
    expect(contrast('focus', 'surface')).toBeGreaterThanOrEqual(3);
    expect(contrast('focus', 'amazon-gold')).toBeGreaterThanOrEqual(3);
  });
});

// --- start.js in a minimal DOM: enough of the API the script uses, nothing it should not use ---

class FakeElement {
  readonly tagName: string;
  readonly doc: FakeDocument;
  children: FakeElement[] = [];
  parent: FakeElement | null = null;
  attributes = new Map<string, string>();
  ownText = '';
  listeners = new Map<string, ((event: { preventDefault: () => void }) => void)[]>();
  type = '';
  name = '';
  value = '';
  method = '';
  action = '';
  classList = {
    add: (c: string) => this.setClasses([...this.classes(), c]),
    remove: (c: string) => this.setClasses(this.classes().filter((x) => x !== c)),
    contains: (c: string) => this.classes().includes(c),
  };

  constructor(tagName: string, doc: FakeDocument) {
    this.tagName = tagName.toUpperCase();
    this.doc = doc;
  }
  private classes(): string[] {
    return this.className.split(/\s+/).filter(Boolean);
  }
  private setClasses(list: string[]): void {
    this.className = [...new Set(list)].join(' ');
  }
  get id(): string {
    return this.attributes.get('id') ?? '';
  }
  set id(value: string) {
    this.attributes.set('id', value);
  }
  get className(): string {
    return this.attributes.get('class') ?? '';
  }
  set className(value: string) {
    this.attributes.set('class', value);
  }
  get firstChild(): FakeElement | null {
    return this.children[0] ?? null;
  }
  get textContent(): string {
    return this.ownText + this.children.map((c) => c.textContent).join('');
  }
  set textContent(value: string) {
    for (const c of this.children) c.parent = null;
    this.children = [];
    this.ownText = value;
  }
  setAttribute(name: string, value: string): void {
    this.attributes.set(name, String(value));
  }
  getAttribute(name: string): string | null {
    return this.attributes.get(name) ?? null;
  }
  removeAttribute(name: string): void {
    this.attributes.delete(name);
  }
  appendChild(child: FakeElement): FakeElement {
    child.parent?.removeChild(child);
    child.parent = this;
    this.children.push(child);
    return child;
  }
  removeChild(child: FakeElement): FakeElement {
    this.children = this.children.filter((c) => c !== child);
    child.parent = null;
    return child;
  }
  addEventListener(type: string, listener: (event: { preventDefault: () => void }) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  dispatch(type: string): boolean {
    let prevented = false;
    for (const l of this.listeners.get(type) ?? []) l({ preventDefault: () => (prevented = true) });
    return !prevented;
  }
  focus(): void {
    this.doc.activeElement = this;
  }
  *walk(): Generator<FakeElement> {
    yield this;
    for (const c of this.children) yield* c.walk();
  }
}

class FakeDocument {
  body = new FakeElement('body', this);
  activeElement: FakeElement | null = null;
  createElement(tag: string): FakeElement {
    return new FakeElement(tag, this);
  }
  getElementById(id: string): FakeElement | null {
    for (const el of this.body.walk()) if (el.id === id) return el;
    return null;
  }
}

const START_JS = readFileSync(new URL('../src/views/assets/start.js', import.meta.url), 'utf8');

const CONFIG = {
  merchantId: 'A1MERCHANT',
  ledgerCurrency: 'USD',
  checkoutLanguage: 'en_US',
  productType: 'SignIn',
  placement: 'Checkout',
  sandbox: true,
  createCheckoutSessionConfig: {
    payloadJSON: '{"storeId":"amzn1.application-oa2-client.x","chargePermissionType":"PaymentMethodOnFile"}',
    signature: 'c2lnbmF0dXJl',
    publicKeyId: 'SANDBOX-AHEXAMPLE',
    algorithm: 'AMZN-PAY-RSASSA-PSS-V2',
  },
};

function jsonResponse(body: unknown, status = 200) {
  return { ok: status >= 200 && status < 300, status, json: async () => body };
}

function runStartScript(options: {
  mode: 'simulator' | 'amazon';
  simulatorSignInUrl?: string;
  fetch: ReturnType<typeof vi.fn>;
  amazon?: unknown;
}) {
  const document = new FakeDocument();
  const container = document.createElement('div');
  container.id = 'AmazonPayButton';
  container.setAttribute('data-button-config-url', CONFIG_URL);
  container.setAttribute('data-button-mode', options.mode);
  if (options.simulatorSignInUrl !== undefined) {
    container.setAttribute('data-simulator-sign-in-url', options.simulatorSignInUrl);
  }
  const status = document.createElement('p');
  status.id = 'button-status';
  status.textContent = 'Loading Amazon Pay…';
  document.body.appendChild(container);
  document.body.appendChild(status);
  const window = { location: { href: 'http://localhost:3000/checkout' }, amazon: options.amazon };
  vm.runInNewContext(START_JS, {
    document,
    window,
    fetch: options.fetch,
    URL,
    AbortController,
    setTimeout,
    clearTimeout,
  });
  return { document, container, status };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

describe('start.js', () => {
  it('simulator mode: posts for the config and renders a real form to the simulator', async () => {
    const fetch = vi.fn(async () => jsonResponse(CONFIG));
    const { document, container, status } = runStartScript({
      mode: 'simulator',
      simulatorSignInUrl: SIM_SIGN_IN,
      fetch,
    });
    await settle();
    expect(fetch).toHaveBeenCalledTimes(1);
    const [url, init] = fetch.mock.calls[0] as unknown as [string, Record<string, unknown>];
    expect(url).toBe('http://localhost:3000/api/amazon-pay/button-config');
    expect(init).toMatchObject({
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
      credentials: 'same-origin',
    });
    const form = container.children[0]!;
    expect(form.tagName).toBe('FORM');
    expect(form.method).toBe('post');
    expect(form.action).toBe(SIM_SIGN_IN);
    const inputs = Object.fromEntries(
      [...form.walk()]
        .filter((e) => e.tagName === 'INPUT')
        .map((e) => [e.name, { type: e.type, value: e.value }]),
    );
    expect(inputs).toEqual({
      payloadJSON: { type: 'hidden', value: CONFIG.createCheckoutSessionConfig.payloadJSON },
      signature: { type: 'hidden', value: CONFIG.createCheckoutSessionConfig.signature },
      publicKeyId: { type: 'hidden', value: CONFIG.createCheckoutSessionConfig.publicKeyId },
      algorithm: { type: 'hidden', value: CONFIG.createCheckoutSessionConfig.algorithm },
    });
    const button = document.getElementById('amazon-pay-button')!;
    expect(button.tagName).toBe('BUTTON');
    expect(button.type).toBe('submit');
    expect(button.textContent).toBe('Amazon Pay');
    expect(button.getAttribute('aria-label')).toBe('Pay with Amazon Pay (simulated)');
    expect(form.textContent).toContain('Simulated Amazon Pay — no real payment');
    expect(status.textContent).toBe('');
    expect(container.getAttribute('aria-busy')).toBeNull();
    // A double click posts once.
    expect(form.dispatch('submit')).toBe(true);
    expect(form.dispatch('submit')).toBe(false);
  });

  it('amazon mode: hands the config to amazon.Pay.renderButton with the Gold button', async () => {
    const renderButton = vi.fn();
    const fetch = vi.fn(async () => jsonResponse(CONFIG));
    const { status } = runStartScript({ mode: 'amazon', fetch, amazon: { Pay: { renderButton } } });
    await settle();
    expect(renderButton).toHaveBeenCalledTimes(1);
    expect(renderButton.mock.calls[0]).toEqual([
      '#AmazonPayButton',
      {
        merchantId: 'A1MERCHANT',
        ledgerCurrency: 'USD',
        checkoutLanguage: 'en_US',
        productType: 'SignIn',
        placement: 'Checkout',
        sandbox: true,
        buttonColor: 'Gold',
        createCheckoutSessionConfig: CONFIG.createCheckoutSessionConfig,
      },
    ]);
    expect(status.textContent).toBe('');
  });

  it('shows a friendly message, never the raw error, and recovers on "Try again"', async () => {
    const fetch = vi
      .fn()
      .mockRejectedValueOnce(new Error('ECONNREFUSED <b>internal</b>'))
      .mockResolvedValueOnce(jsonResponse({ error: { code: 'X', message: 'raw server text' } }, 500))
      .mockResolvedValueOnce(jsonResponse(CONFIG));
    const { document, container, status } = runStartScript({
      mode: 'simulator',
      simulatorSignInUrl: SIM_SIGN_IN,
      fetch,
    });
    await settle();
    expect(status.textContent).toMatch(/couldn’t load Amazon Pay/);
    expect(status.textContent).not.toMatch(/ECONNREFUSED|internal/);
    const retry = document.getElementById('amazon-pay-retry')!;
    expect(retry.textContent).toBe('Try again');
    retry.dispatch('click');
    await settle();
    expect(status.textContent).not.toContain('raw server text');
    expect(status.textContent).toMatch(/couldn’t load Amazon Pay/);
    expect(document.activeElement?.id).toBe('amazon-pay-retry');
    document.getElementById('amazon-pay-retry')!.dispatch('click');
    await settle();
    expect(fetch).toHaveBeenCalledTimes(3);
    expect(container.children[0]?.tagName).toBe('FORM');
    expect(document.activeElement?.id).toBe('amazon-pay-button');
    expect(status.textContent).toBe('');
  });

  it('refuses a non-http simulator URL and an incomplete config', async () => {
    const fetch = vi.fn(async () => jsonResponse(CONFIG));
    const bad = runStartScript({ mode: 'simulator', simulatorSignInUrl: 'javascript:alert(1)', fetch });
    await settle();
    expect(bad.document.getElementById('amazon-pay-button')).toBeNull();
    expect(bad.status.textContent).toMatch(/couldn’t load Amazon Pay/);

    const partial = vi.fn(async () => jsonResponse({ merchantId: 'A1' }));
    const incomplete = runStartScript({ mode: 'simulator', simulatorSignInUrl: SIM_SIGN_IN, fetch: partial });
    await settle();
    expect(incomplete.document.getElementById('amazon-pay-button')).toBeNull();
  });

  it('amazon mode without checkout.js fails politely', async () => {
    const fetch = vi.fn(async () => jsonResponse(CONFIG));
    const { status } = runStartScript({ mode: 'amazon', fetch });
    await settle();
    expect(status.textContent).toMatch(/couldn’t load Amazon Pay/);
  });

  it('builds the DOM without HTML strings or eval', () => {
    expect(START_JS).not.toMatch(
      /innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/,
    );
  });
});
