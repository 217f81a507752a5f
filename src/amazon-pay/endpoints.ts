// Amazon Pay API hosts per region and the URL path rules for legacy vs environment-specific key ids.

export type Region = 'na' | 'eu' | 'jp';

export const REGION_ALIASES: Record<string, Region> = {
  na: 'na',
  us: 'na',
  eu: 'eu',
  uk: 'eu',
  de: 'eu',
  jp: 'jp',
};

export const REGION_HOSTS: Record<Region, string> = {
  na: 'pay-api.amazon.com',
  eu: 'pay-api.amazon.eu',
  jp: 'pay-api.amazon.jp',
};

/** checkout.js per region (FE = JP). */
export const CHECKOUT_JS_URLS: Record<Region, string> = {
  na: 'https://static-na.payments-amazon.com/checkout.js',
  eu: 'https://static-eu.payments-amazon.com/checkout.js',
  jp: 'https://static-fe.payments-amazon.com/checkout.js',
};

export function normalizeRegion(value: string): Region | undefined {
  return REGION_ALIASES[value.trim().toLowerCase()];
}

/**
 * Environment-specific key ids (`LIVE-…`, `SANDBOX-…`) imply the environment; the SDKs test a plain prefix
 * on the uppercased id. Legacy ids return undefined.
 */
export function environmentOfKeyId(publicKeyId: string): 'live' | 'sandbox' | undefined {
  const upper = publicKeyId.toUpperCase();
  if (upper.startsWith('LIVE')) return 'live';
  if (upper.startsWith('SANDBOX')) return 'sandbox';
  return undefined;
}

/**
 * Path prefix before `/v2/…`: empty for environment-specific key ids, `/sandbox` or `/live` for legacy ids.
 */
export function pathPrefix(publicKeyId: string, sandbox: boolean): string {
  if (environmentOfKeyId(publicKeyId)) return '';
  return sandbox ? '/sandbox' : '/live';
}

export interface ApiOrigin {
  /** `https://pay-api.amazon.com` or an override such as the simulator's `http://127.0.0.1:4010`. */
  origin: string;
  /** The value of `x-amz-pay-host`: the bare host name of the real region (no scheme, no port). */
  amzHost: string;
}

export function resolveApiOrigin(region: Region, overrideBaseUrl?: string): ApiOrigin {
  if (overrideBaseUrl) {
    const url = new URL(overrideBaseUrl);
    return { origin: url.origin, amzHost: url.hostname };
  }
  return { origin: `https://${REGION_HOSTS[region]}`, amzHost: REGION_HOSTS[region] };
}

export function checkoutSessionPath(prefix: string, checkoutSessionId: string, action?: 'complete'): string {
  const base = `${prefix}/v2/checkoutSessions/${encodeURIComponent(checkoutSessionId)}`;
  return action ? `${base}/${action}` : base;
}
