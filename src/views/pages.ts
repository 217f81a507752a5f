// The buyer-facing HTML pages of the checkout: start (with the Amazon Pay button), result, confirming, error.
import type { BuyerDetails, PostalAddress } from '../store/store.ts';
import { html, type SafeHtml, safeUrl } from './html.ts';
import { renderLayout } from './layout.ts';

export const START_SCRIPT_URL = '/assets/start.js';

export interface CartSummaryItem {
  name: string;
  quantity?: number;
  /** Already formatted for display, currency included (e.g. "$12.00"). */
  amount: string;
}

export interface CartSummary {
  items: readonly CartSummaryItem[];
  /** Already formatted total, currency included. */
  total?: string;
  /** A short line under the total, e.g. "Taxes and shipping are calculated at the next step." */
  note?: string;
}

export type StartPageButton =
  | { mode: 'simulator'; simulatorSignInUrl: string }
  | { mode: 'amazon'; checkoutJsUrl: string };

export interface StartPageInput {
  storeName?: string;
  /** A buyer message from the catalogue (never text taken from the request). */
  message?: { code: string; text: string };
  button: StartPageButton;
  buttonConfigUrl: string;
  cartSummary?: CartSummary;
}

export interface ResultPageInput {
  storeName?: string;
  checkoutSessionId: string;
  buyer: BuyerDetails;
  chargePermissionSaved: boolean;
  startUrl: string;
}

export interface ConfirmingPageInput {
  storeName?: string;
  checkoutSessionId: string;
  refreshSeconds: number;
  statusUrl: string;
}

export interface ErrorPageInput {
  storeName?: string;
  statusCode: number;
  title: string;
  message: string;
  startUrl?: string;
}

const NOT_PROVIDED = html`<span class="not-provided">Not provided</span>`;

const CHECK_ICON = html`<svg class="icon icon--large" aria-hidden="true" focusable="false" viewBox="0 0 24 24" width="32" height="32"><circle cx="12" cy="12" r="11" fill="currentColor"/><path d="m7 12.5 3.2 3.2L17 9" fill="none" stroke="#fff" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round"/></svg>`;

function present(value: string | null | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

function textOrNotProvided(value: string | null | undefined): SafeHtml {
  const text = present(value);
  return text === undefined ? NOT_PROVIDED : html`${text}`;
}

/**
 * Address lines in reading order, empty parts skipped. Generic rather than per-country: Amazon returns
 * addresses from many regions, and a familiar "City, Region Postcode" line reads acceptably everywhere.
 */
export function addressLines(address: PostalAddress | null | undefined): string[] {
  if (!address) return [];
  const city = present(address.city);
  const region = present(address.stateOrRegion);
  const postalCode = present(address.postalCode);
  const country = present(address.countryCode)?.toUpperCase();
  const district = present(address.district);
  const county = present(address.county);
  const lines: (string | undefined)[] = [
    present(address.name),
    present(address.addressLine1),
    present(address.addressLine2),
    present(address.addressLine3),
  ];
  // Districts often repeat the city (Amazon's own example does); only show one that adds information.
  if (district && district.toLowerCase() !== city?.toLowerCase()) lines.push(district);
  const regionAndCode = [region, postalCode].filter(Boolean).join(' ');
  lines.push([city, regionAndCode].filter(Boolean).join(', ') || undefined);
  // US postal addresses never carry the county; elsewhere it can be the meaningful region.
  if (county && country !== 'US' && county !== city && county !== region && county !== district) {
    lines.push(county);
  }
  lines.push(country);
  const phone = present(address.phoneNumber);
  if (phone) lines.push(`Phone: ${phone}`);
  return lines.filter((line): line is string => line !== undefined && line !== '');
}

function renderAddress(id: string, address: PostalAddress | null | undefined): SafeHtml {
  const lines = addressLines(address);
  if (lines.length === 0) return html`<p class="address" id="${id}">${NOT_PROVIDED}</p>`;
  const content = lines.map((line, i) => (i === 0 ? html`${line}` : html`<br>${line}`));
  return html`<p class="address" id="${id}">${content}</p>`;
}

function renderCartSummary(cart: CartSummary | undefined): SafeHtml | null {
  if (!cart || cart.items.length === 0) return null;
  const items = cart.items.map(
    (item) => html`<li class="summary__item">
<span class="summary__name">${item.name}${
      item.quantity !== undefined && Number.isFinite(item.quantity)
        ? html` <span class="summary__qty">× ${item.quantity}</span>`
        : null
    }</span>
<span class="summary__amount">${item.amount}</span>
</li>`,
  );
  return html`<aside class="card summary" aria-labelledby="summary-heading">
<h2 id="summary-heading" class="card__title">Order summary</h2>
<ul class="summary__items">
${items}
</ul>
${
  cart.total !== undefined
    ? html`<p class="summary__total"><span>Total</span><span class="summary__amount">${cart.total}</span></p>`
    : null
}
${cart.note !== undefined ? html`<p class="muted">${cart.note}</p>` : null}
</aside>`;
}

export function renderStartPage(input: StartPageInput): string {
  const { button } = input;
  const message = input.message
    ? html`<div class="alert alert--error" role="alert" id="checkout-message" data-code="${input.message.code}">
<h2 class="alert__title">Amazon Pay was not set up</h2>
<p class="alert__text">${input.message.text}</p>
</div>`
    : null;
  const scripts = button.mode === 'amazon' ? [button.checkoutJsUrl, START_SCRIPT_URL] : [START_SCRIPT_URL];
  const simulatorAttribute =
    button.mode === 'simulator'
      ? html` data-simulator-sign-in-url="${safeUrl(button.simulatorSignInUrl)}"`
      : null;
  const cart = renderCartSummary(input.cartSummary);
  const main = html`<h1 class="page-title">Checkout</h1>
${message}
<div class="checkout-grid${cart ? ' checkout-grid--with-summary' : ''}">
<section class="card" aria-labelledby="pay-heading">
<h2 id="pay-heading" class="card__title">Save Amazon Pay as your payment method</h2>
<p>Sign in with your Amazon account to choose a payment method and addresses you already use with Amazon. We save them for this store so your next purchases are faster.</p>
<ol class="steps">
<li>Sign in to Amazon Pay.</li>
<li>Choose your payment method and addresses.</li>
<li>Come back here to confirm your details.</li>
</ol>
<p class="muted">No payment is taken in this step.</p>
<div class="pay-button-area">
<div id="AmazonPayButton" class="pay-button" data-button-config-url="${safeUrl(input.buttonConfigUrl)}" data-button-mode="${button.mode}"${simulatorAttribute}></div>
<p id="button-status" class="button-status" role="status" aria-live="polite">Loading Amazon Pay…</p>
<noscript><p class="alert alert--info">Please turn on JavaScript in your browser to use Amazon Pay.</p></noscript>
</div>
</section>
${cart}
</div>`;
  return renderLayout({
    title: 'Checkout',
    storeName: input.storeName,
    main,
    scripts,
    pageClass: 'page page--start',
  });
}

export function renderResultPage(input: ResultPageInput): string {
  const { buyer } = input;
  const saved = input.chargePermissionSaved;
  const heading = saved
    ? 'Amazon Pay is now saved as your payment method'
    : 'You are signed in with Amazon Pay';
  const savedNotice = saved
    ? html`<p id="payment-method-saved" class="notice notice--success" data-saved="true">${CHECK_ICON}<span>Your next checkout with Amazon Pay will use these details.</span></p>`
    : html`<p id="payment-method-saved" class="notice notice--warning" data-saved="false"><span>Your payment method could not be saved this time. You can try again from checkout.</span></p>`;
  const main = html`<h1 class="page-title">${heading}</h1>
${savedNotice}
<div class="details-grid">
<section class="card" aria-labelledby="contact-heading">
<h2 id="contact-heading" class="card__title">Your details</h2>
<dl class="details">
<div class="details__row"><dt>Name</dt><dd id="buyer-name">${textOrNotProvided(buyer.name)}</dd></div>
<div class="details__row"><dt>Email</dt><dd id="buyer-email">${textOrNotProvided(buyer.email)}</dd></div>
<div class="details__row"><dt>Phone</dt><dd id="buyer-phone">${textOrNotProvided(buyer.phone)}</dd></div>
</dl>
</section>
<section class="card" aria-labelledby="billing-heading">
<h2 id="billing-heading" class="card__title">Billing address</h2>
${renderAddress('billing-address', buyer.billingAddress)}
</section>
<section class="card" aria-labelledby="shipping-heading">
<h2 id="shipping-heading" class="card__title">Shipping address</h2>
${renderAddress('shipping-address', buyer.shippingAddress)}
</section>
</div>
<p class="actions"><a class="button button--primary" href="${safeUrl(input.startUrl)}">Continue</a></p>
<p class="reference muted">Reference: <code id="checkout-session-id">${input.checkoutSessionId}</code></p>`;
  return renderLayout({
    title: saved ? 'Amazon Pay saved' : 'Amazon Pay sign-in',
    storeName: input.storeName,
    main,
    pageClass: 'page page--result',
  });
}

/** Clamped so a bad caller cannot produce a page that refreshes in a tight loop or effectively never. */
export function clampRefreshSeconds(seconds: number): number {
  if (!Number.isFinite(seconds)) return 3;
  return Math.min(60, Math.max(1, Math.round(seconds)));
}

export function renderConfirmingPage(input: ConfirmingPageInput): string {
  const seconds = clampRefreshSeconds(input.refreshSeconds);
  // A meta refresh rather than script: it works with JavaScript off and needs nothing from the CSP.
  const head = html`<meta http-equiv="refresh" content="${seconds}">`;
  const main = html`<div id="confirming" class="card confirming" role="status" aria-live="polite">
<div class="spinner" aria-hidden="true"></div>
<h1 class="page-title">Confirming your Amazon Pay setup…</h1>
<p>This usually takes a few seconds. This page updates itself every ${seconds} ${seconds === 1 ? 'second' : 'seconds'}.</p>
<p>Please keep this page open and do not start checkout again.</p>
<p><a class="button button--secondary" href="${safeUrl(input.statusUrl)}">Check now</a></p>
<p class="reference muted">Reference: <code id="checkout-session-id">${input.checkoutSessionId}</code></p>
</div>`;
  return renderLayout({
    title: 'Confirming your Amazon Pay setup',
    storeName: input.storeName,
    main,
    head,
    pageClass: 'page page--confirming',
  });
}

export function renderErrorPage(input: ErrorPageInput): string {
  const statusCode = Number.isInteger(input.statusCode) ? input.statusCode : 500;
  const main = html`<div id="error-page" class="card error-page" data-status="${statusCode}">
<p class="error-page__code">Error ${statusCode}</p>
<h1 class="page-title">${input.title}</h1>
<p>${input.message}</p>
${
  input.startUrl !== undefined
    ? html`<p class="actions"><a class="button button--primary" href="${safeUrl(input.startUrl)}">Return to checkout</a></p>`
    : null
}
</div>`;
  return renderLayout({
    title: input.title,
    storeName: input.storeName,
    main,
    pageClass: 'page page--error',
  });
}
