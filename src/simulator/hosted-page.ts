// The simulator's hosted sign-in page, the browser half of Amazon Pay: verifies the button payload signature,
// lets a person pick a test buyer and an outcome, creates the session and redirects to signInReturnUrl.
import { type KeyObject, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  buttonStringToSign,
  isSigningAlgorithm,
  type SigningAlgorithm,
  verifyString,
} from '../amazon-pay/signing.ts';
import {
  BUYER_PRESETS,
  type BuyerPreset,
  type CreateSessionInput,
  HOUR_MS,
  presetBuyer,
  type SessionOutcome,
  SIGN_IN_SCOPES,
} from './sessions.ts';

export interface HostedPageContext {
  publicKeys: Record<string, KeyObject>;
  createSession(input: CreateSessionInput): { checkoutSessionId: string };
  now(): number;
}

export interface HostedPage {
  handle(req: IncomingMessage, res: ServerResponse, rawPath: string, rawQuery: string, body: Buffer): void;
}

const SIGN_IN_PATH = '/checkout/sign-in';
const CONTINUE_PATH = '/checkout/sign-in/continue';
const PENDING_TTL_MS = HOUR_MS;
const MAX_PENDING = 10_000;

export function isHostedPagePath(rawPath: string): boolean {
  return rawPath === SIGN_IN_PATH || rawPath === CONTINUE_PATH;
}

const PAGE_OUTCOMES = [
  ['success', 'Success: the wallet is saved'],
  ['BuyerCanceled', 'Buyer cancels at Amazon (BuyerCanceled)'],
  ['Declined', 'Payment method declined (Declined)'],
  ['AmazonCanceled', 'Amazon cancels (AmazonCanceled)'],
  ['AmazonRejected', 'Amazon rejects (AmazonRejected)'],
  ['ProcessingFailure', 'Processing failure (ProcessingFailure)'],
  ['expire', 'Expired: session created 25 hours ago'],
] as const;
type PageOutcome = (typeof PAGE_OUTCOMES)[number][0];

const BUYER_LABELS: Record<BuyerPreset, string> = {
  'source-document': 'Complete profile (the step-3 example buyer)',
  'no-phone': 'No phone number',
  'no-billing-address': 'No billing address',
};

interface SignInRequest {
  storeId: string | undefined;
  scopes: string[];
  signInReturnUrl: string;
  signInCancelUrl: string | undefined;
  chargePermissionType: string;
  expiresAt: number;
}

class PageError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

function isHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

/** Appends the session id the way Amazon does (protocol sheet §6), keeping an existing query and fragment. */
export function appendSessionId(returnUrl: string, checkoutSessionId: string): string {
  const hashAt = returnUrl.indexOf('#');
  const base = hashAt < 0 ? returnUrl : returnUrl.slice(0, hashAt);
  const hash = hashAt < 0 ? '' : returnUrl.slice(hashAt);
  const sep = !base.includes('?') ? '?' : base.endsWith('?') || base.endsWith('&') ? '' : '&';
  return `${base}${sep}amazonCheckoutSessionId=${encodeURIComponent(checkoutSessionId)}${hash}`;
}

function formFields(req: IncomingMessage, rawQuery: string, body: Buffer): Record<string, string> {
  if (req.method === 'GET') return Object.fromEntries(new URLSearchParams(rawQuery));
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const text = body.toString('utf8');
  if (type === 'application/json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new PageError(400, 'InvalidParameterValue', 'The request body is not valid JSON.');
    }
    if (parsed === null || typeof parsed !== 'object') {
      throw new PageError(400, 'InvalidParameterValue', 'The request body is not a JSON object.');
    }
    return Object.fromEntries(
      Object.entries(parsed).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
    );
  }
  return Object.fromEntries(new URLSearchParams(text));
}

// Protocol sheet §7: the button signature covers the exact payloadJSON string; the algorithm sets the salt.
function verifyButton(
  fields: Record<string, string>,
  publicKeys: Record<string, KeyObject>,
): Omit<SignInRequest, 'expiresAt'> {
  const { payloadJSON, signature, publicKeyId } = fields;
  if (!payloadJSON || !signature || !publicKeyId) {
    throw new PageError(400, 'MissingParameterValue', 'payloadJSON, signature and publicKeyId are required.');
  }
  // checkout.js falls back to the V1 algorithm when none is configured (protocol sheet §7).
  const algorithm = fields.algorithm || 'AMZN-PAY-RSASSA-PSS';
  if (!isSigningAlgorithm(algorithm)) {
    throw new PageError(400, 'InvalidParameterValue', 'The algorithm is not supported.');
  }
  const key = publicKeys[publicKeyId];
  if (!key) throw new PageError(403, 'InvalidPublicKeyId', 'The public key ID is not valid.');
  if (
    !verifyString(buttonStringToSign(algorithm as SigningAlgorithm, payloadJSON), signature, key, algorithm)
  ) {
    throw new PageError(
      403,
      'InvalidSignatureError',
      'The signature of the button payload could not be verified.',
    );
  }
  let payload: unknown;
  try {
    payload = JSON.parse(payloadJSON);
  } catch {
    throw new PageError(400, 'InvalidParameterValue', 'payloadJSON is not valid JSON.');
  }
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    throw new PageError(400, 'InvalidParameterValue', 'payloadJSON is not a JSON object.');
  }
  const p = payload as Record<string, unknown>;
  const details = (p.webCheckoutDetails ?? {}) as Record<string, unknown>;
  if (!isHttpUrl(details.signInReturnUrl)) {
    throw new PageError(
      400,
      'InvalidParameterValue',
      'webCheckoutDetails.signInReturnUrl must be an absolute http(s) URL.',
    );
  }
  if (details.signInCancelUrl !== undefined && !isHttpUrl(details.signInCancelUrl)) {
    throw new PageError(
      400,
      'InvalidParameterValue',
      'webCheckoutDetails.signInCancelUrl must be an absolute http(s) URL.',
    );
  }
  const scopes = p.signInScopes ?? [];
  const known = new Set<string>(SIGN_IN_SCOPES);
  if (!Array.isArray(scopes) || !scopes.every((s) => typeof s === 'string' && known.has(s))) {
    throw new PageError(400, 'InvalidParameterValue', 'signInScopes contains an unknown scope.');
  }
  return {
    storeId: typeof p.storeId === 'string' ? p.storeId : undefined,
    scopes,
    signInReturnUrl: details.signInReturnUrl,
    signInCancelUrl: details.signInCancelUrl as string | undefined,
    chargePermissionType:
      typeof p.chargePermissionType === 'string' ? p.chargePermissionType : 'PaymentMethodOnFile',
  };
}

const STYLE = `
:root { color-scheme: light; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; line-height: 1.45; }
*, *::before, *::after { box-sizing: border-box; }
body { margin: 0; background: #f3f3f3; color: #0f1111; }
header { background: #232f3e; color: #fff; padding: .75rem 1.5rem; font-weight: 600; }
main { max-width: 36rem; margin: 1.5rem auto; background: #fff; padding: 1.5rem; border-radius: 8px;
  border: 1px solid #d5d9d9; }
@media (max-width: 38rem) { header { padding: .75rem 1rem; } main { margin: 1rem .75rem; padding: 1.25rem 1rem; } }
h1 { font-size: 1.4rem; line-height: 1.25; margin-top: 0; }
fieldset { border: 1px solid #d5d9d9; border-radius: 6px; margin: 0 0 1rem; padding: .5rem 1rem .75rem; }
legend { font-weight: 600; padding: 0 .25rem; }
label { display: flex; align-items: baseline; gap: .6rem; padding: .35rem 0; cursor: pointer; }
label input { flex: none; margin: 0; transform: translateY(.1em); }
.detail { display: block; color: #565959; font-size: .9rem; }
.actions { display: flex; gap: .75rem; flex-wrap: wrap; }
button { font: inherit; padding: .6rem 1.2rem; border-radius: 20px; cursor: pointer; border: 1px solid #8d9096; }
@media (max-width: 38rem) { .actions button { flex: 1 1 100%; } }
#continue { background: #ffd814; border-color: #fcd200; color: #0f1111; }
#continue:hover { background: #f7ca00; }
#cancel { background: #fff; color: #0f1111; }
#cancel:hover { background: #f7fafa; }
button:focus-visible, input:focus-visible { outline: 3px solid #007185; outline-offset: 2px; }
.note { color: #565959; font-size: .9rem; }
header .note { color: #d5d9d9; font-weight: 400; }
.error { border-left: 4px solid #b12704; padding-left: 1rem; }
code { overflow-wrap: anywhere; }
`;
function page(title: string, content: string, nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(title)} – Amazon Pay simulator</title>
<style nonce="${nonce}">${STYLE}</style>
</head>
<body>
<header>Amazon Pay <span class="note">(simulator – test buyers only)</span></header>
<main>
${content}
</main>
</body>
</html>
`;
}

function sendHtml(
  res: ServerResponse,
  status: number,
  html: string,
  nonce: string,
  formTargets: string[],
): void {
  // Only the nonce'd inline style may apply; the form may post here and follow the redirect to the merchant.
  const formAction = ["'self'", ...new Set(formTargets.map((u) => new URL(u).origin))].join(' ');
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(html),
    'content-security-policy': `default-src 'none'; style-src 'nonce-${nonce}'; form-action ${formAction}; base-uri 'none'; frame-ancestors 'none'`,
    'cache-control': 'no-store',
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
  });
  res.end(html);
}

function errorPage(res: ServerResponse, err: PageError): void {
  const nonce = randomBytes(16).toString('base64');
  const html = page(
    'Something went wrong',
    `<h1>We're sorry!</h1>
<div class="error" role="alert">
<p>There was a problem with this merchant's Amazon Pay integration. No checkout session was created.</p>
<p>Error code: <code>${escapeHtml(err.code)}</code></p>
<p class="note">${escapeHtml(err.message)}</p>
</div>`,
    nonce,
  );
  sendHtml(res, err.status, html, nonce, []);
}

function radio(group: string, value: string, label: string, detail: string, checked: boolean): string {
  const id = `${group}-${value}`;
  return `<label for="${escapeHtml(id)}"><input type="radio" id="${escapeHtml(id)}" name="${group}" value="${escapeHtml(value)}"${checked ? ' checked' : ''}><span>${escapeHtml(label)}${detail ? `<span class="detail">${escapeHtml(detail)}</span>` : ''}</span></label>`;
}

const SCOPE_LABELS: Record<(typeof SIGN_IN_SCOPES)[number], string> = {
  name: 'name',
  email: 'email address',
  postalCode: 'postal code',
  shippingAddress: 'shipping address',
  phoneNumber: 'phone number',
  primeStatus: 'Prime status',
  billingAddress: 'billing address',
};

/** "name, email address and phone number": the consent line reads like Amazon's, not like the payload. */
function readableScopes(scopes: readonly string[]): string {
  const labels = scopes.map((s) => SCOPE_LABELS[s as keyof typeof SCOPE_LABELS] ?? s);
  return labels.length > 1 ? `${labels.slice(0, -1).join(', ')} and ${labels.at(-1)}` : (labels[0] ?? '');
}

function signInPage(res: ServerResponse, token: string, request: SignInRequest): void {
  const nonce = randomBytes(16).toString('base64');
  const buyers = BUYER_PRESETS.map((preset, i) => {
    const b = presetBuyer(preset);
    return radio('buyer', preset, BUYER_LABELS[preset], `${b.name ?? ''} · ${b.email ?? ''}`, i === 0);
  }).join('\n');
  const outcomes = PAGE_OUTCOMES.map(([value, label], i) => radio('outcome', value, label, '', i === 0)).join(
    '\n',
  );
  const scopes = readableScopes(request.scopes.length > 0 ? request.scopes : ['name', 'email']);
  const html = page(
    'Sign in',
    `<h1>Sign in with Amazon Pay</h1>
<p>The merchant${request.storeId ? ` (<code>${escapeHtml(request.storeId)}</code>)` : ''} asks to save Amazon Pay as a payment method and to see your ${escapeHtml(scopes)}.</p>
<form method="post" action="${CONTINUE_PATH}">
<input type="hidden" name="token" value="${escapeHtml(token)}">
<fieldset>
<legend>Test buyer</legend>
${buyers}
</fieldset>
<fieldset>
<legend>Outcome of Complete Checkout Session</legend>
${outcomes}
</fieldset>
<div class="actions">
<button type="submit" id="continue" name="action" value="continue">Continue to merchant</button>
<button type="submit" id="cancel" name="action" value="cancel">Cancel and return to merchant</button>
</div>
</form>
<p class="note">You will return to <code>${escapeHtml(request.signInReturnUrl)}</code>.</p>`,
    nonce,
  );
  sendHtml(
    res,
    200,
    html,
    nonce,
    [request.signInReturnUrl, request.signInCancelUrl].filter((u): u is string => !!u),
  );
}

export function createHostedPage(ctx: HostedPageContext): HostedPage {
  // One-time tokens from the page to its form post; the payload was verified when the page was shown.
  const pending = new Map<string, SignInRequest>();

  function remember(request: Omit<SignInRequest, 'expiresAt'>): string {
    const now = Date.now();
    for (const [token, entry] of pending) {
      if (entry.expiresAt <= now || pending.size >= MAX_PENDING) pending.delete(token);
      else break;
    }
    const token = randomBytes(24).toString('base64url');
    pending.set(token, { ...request, expiresAt: now + PENDING_TTL_MS });
    return token;
  }

  function showSignIn(req: IncomingMessage, res: ServerResponse, rawQuery: string, body: Buffer): void {
    const request = verifyButton(formFields(req, rawQuery, body), ctx.publicKeys);
    const token = remember(request);
    signInPage(res, token, pending.get(token)!);
  }

  function continueSignIn(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    const fields = formFields(req, '', body);
    const request = fields.token ? pending.get(fields.token) : undefined;
    if (!request || request.expiresAt <= Date.now()) {
      throw new PageError(400, 'InvalidParameterValue', 'This sign-in has expired or was already used.');
    }
    const buyer = fields.buyer as BuyerPreset;
    const outcome = fields.outcome as PageOutcome;
    const action = fields.action === 'cancel' ? 'cancel' : 'continue';
    if (
      action === 'continue' &&
      !(BUYER_PRESETS.includes(buyer) && PAGE_OUTCOMES.some(([v]) => v === outcome))
    ) {
      throw new PageError(400, 'InvalidParameterValue', 'Pick a test buyer and an outcome.');
    }
    pending.delete(fields.token!);
    let location: string;
    if (action === 'cancel') {
      if (!request.signInCancelUrl) {
        throw new PageError(400, 'InvalidParameterValue', 'The merchant gave no signInCancelUrl.');
      }
      location = request.signInCancelUrl;
    } else {
      const { checkoutSessionId } = ctx.createSession({
        buyer,
        outcome: outcome === 'expire' ? 'success' : (outcome as SessionOutcome),
        scopes: request.scopes,
        signInReturnUrl: request.signInReturnUrl,
        ...(request.signInCancelUrl ? { signInCancelUrl: request.signInCancelUrl } : {}),
        ...(request.storeId ? { storeId: request.storeId } : {}),
        chargePermissionType: request.chargePermissionType,
        ...(outcome === 'expire' ? { createdAt: ctx.now() - 25 * HOUR_MS } : {}),
      });
      location = appendSessionId(request.signInReturnUrl, checkoutSessionId);
    }
    res.writeHead(303, { location, 'cache-control': 'no-store', 'content-length': 0 });
    res.end();
  }

  return {
    handle(req, res, rawPath, rawQuery, body) {
      try {
        if (rawPath === SIGN_IN_PATH && (req.method === 'GET' || req.method === 'POST')) {
          showSignIn(req, res, rawQuery, body);
        } else if (rawPath === CONTINUE_PATH && req.method === 'POST') {
          continueSignIn(req, res, body);
        } else {
          throw new PageError(405, 'UnsupportedOperation', 'This method is not supported here.');
        }
      } catch (err) {
        if (!(err instanceof PageError)) throw err;
        errorPage(res, err);
      }
    },
  };
}
