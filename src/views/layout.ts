// The page shell shared by every checkout page: document head, store header, main landmark and footer.
import { html, type SafeHtml, safeUrl } from './html.ts';

export const DEFAULT_STORE_NAME = 'Example Store';
export const STYLESHEET_URL = '/assets/checkout.css';

export interface LayoutInput {
  /** Page title, without the store name (added here). */
  title: string;
  storeName?: string | undefined;
  /** Content of `<main>`; it must contain the page's one `<h1>`. */
  main: SafeHtml;
  /** Script URLs, loaded in order with `defer` (external files only: the CSP allows no inline script). */
  scripts?: readonly string[] | undefined;
  /** Extra `<head>` markup, e.g. a meta refresh. */
  head?: SafeHtml | undefined;
  /** A class on `<body>` so the stylesheet can vary the layout per page. */
  pageClass?: string | undefined;
}

export function storeNameOf(storeName: string | undefined): string {
  const trimmed = storeName?.trim();
  return trimmed ? trimmed : DEFAULT_STORE_NAME;
}

// Decorative only (aria-hidden); inline SVG is markup, not an image load, so the CSP does not block it.
const LOCK_ICON = html`<svg class="icon" aria-hidden="true" focusable="false" viewBox="0 0 16 16" width="16" height="16"><path fill="currentColor" d="M8 1a3.5 3.5 0 0 0-3.5 3.5V6H4a1.5 1.5 0 0 0-1.5 1.5v6A1.5 1.5 0 0 0 4 15h8a1.5 1.5 0 0 0 1.5-1.5v-6A1.5 1.5 0 0 0 12 6h-.5V4.5A3.5 3.5 0 0 0 8 1Zm2 5H6V4.5a2 2 0 1 1 4 0V6Z"/></svg>`;

export function renderLayout(input: LayoutInput): string {
  const store = storeNameOf(input.storeName);
  const scripts = (input.scripts ?? []).map((src) => html`<script src="${safeUrl(src)}" defer></script>`);
  const page = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex, nofollow">
<meta name="color-scheme" content="light">
${input.head}
<title>${input.title} — ${store}</title>
<link rel="stylesheet" href="${STYLESHEET_URL}">
${scripts}
</head>
<body class="${input.pageClass ?? 'page'}">
<a class="skip-link" href="#main">Skip to main content</a>
<header class="site-header">
<div class="container site-header__inner">
<p class="brand">${store}</p>
<p class="secure-badge">${LOCK_ICON}<span>Secure checkout</span></p>
</div>
</header>
<main id="main" class="container site-main" tabindex="-1">
${input.main}
</main>
<footer class="site-footer">
<div class="container">
<p>Payments are processed by Amazon Pay. ${store} never sees your card details.</p>
<p>Need help with your order? Contact ${store} customer service.</p>
</div>
</footer>
</body>
</html>
`;
  return page.toString();
}
