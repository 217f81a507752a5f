// Amazon Pay request and button-payload signing (AMZN-PAY-RSASSA-PSS and -V2), per the protocol sheet §2.
import { createHash, constants as cryptoConstants, type KeyObject, sign, verify } from 'node:crypto';

export const SIGNING_ALGORITHMS = {
  'AMZN-PAY-RSASSA-PSS': { saltLength: 20 },
  'AMZN-PAY-RSASSA-PSS-V2': { saltLength: 32 },
} as const;

export type SigningAlgorithm = keyof typeof SIGNING_ALGORITHMS;
export const DEFAULT_ALGORITHM: SigningAlgorithm = 'AMZN-PAY-RSASSA-PSS-V2';

export function isSigningAlgorithm(value: string): value is SigningAlgorithm {
  return Object.hasOwn(SIGNING_ALGORITHMS, value);
}

export const EMPTY_PAYLOAD_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** `x-amz-pay-date` value: UTC ISO-8601 basic format, e.g. 20190923T231908Z. */
export function formatAmzDate(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/**
 * Parses both the basic format we send and the extended format the official Node SDK sends
 * (`2024-05-01T12:34:56Z`), so the simulator accepts what real Amazon accepts.
 */
export function parseAmzDate(value: string): Date | undefined {
  const basic = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  const extended = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/.exec(value);
  const m = basic ?? extended;
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

// RFC 3986 unreserved characters stay; everything else is %XX of its UTF-8 bytes (uppercase hex).
function rfc3986Encode(value: string, keepSlash: boolean): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const ch = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-_.~]/.test(ch) || (keepSlash && ch === '/')) out += ch;
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Canonical URI as the Java/.NET SDKs build it: runs of `/` collapsed, bytes outside the unreserved set encoded. */
export function canonicalUri(path: string): string {
  if (path === '') return '/';
  const collapsed = path.replace(/\/{2,}/g, '/');
  const encoded = rfc3986Encode(collapsed, true);
  return encoded.startsWith('/') ? encoded : `/${encoded}`;
}

export type QueryParams = Record<string, string | readonly string[]>;

export function canonicalQueryString(params: QueryParams | undefined): string {
  if (!params) return '';
  const pairs: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(params)) {
    const values = typeof value === 'string' ? [value] : [...value];
    for (const v of values) pairs.push([rfc3986Encode(name, false), rfc3986Encode(v, false)]);
  }
  // Ordinal sort on the encoded name, then on the encoded value (multiple values of one name).
  pairs.sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([n, v]) => `${n}=${v}`).join('&');
}

export interface CanonicalRequestInput {
  method: string;
  /** URL path as sent (no query string). */
  path: string;
  query?: QueryParams;
  /** Only the headers to sign; names are lowercased here. */
  headers: Record<string, string | readonly string[]>;
  /** The exact body bytes sent; `''` for none. */
  payload: string | Uint8Array;
}

export interface CanonicalRequest {
  text: string;
  signedHeaders: string;
}

export function buildCanonicalRequest(input: CanonicalRequestInput): CanonicalRequest {
  const normalized = new Map<string, string>();
  for (const [name, value] of Object.entries(input.headers)) {
    const values = typeof value === 'string' ? [value] : [...value];
    const clean = values.map((v) => v.trim().replace(/\s+/g, ' ')).join(',');
    const key = name.toLowerCase();
    normalized.set(key, normalized.has(key) ? `${normalized.get(key)},${clean}` : clean);
  }
  const names = [...normalized.keys()].sort();
  const headerBlock = names.map((n) => `${n}:${normalized.get(n)}\n`).join('');
  const signedHeaders = names.join(';');
  const text = [
    input.method.toUpperCase(),
    canonicalUri(input.path),
    canonicalQueryString(input.query),
    headerBlock,
    signedHeaders,
    sha256Hex(input.payload),
  ].join('\n');
  return { text, signedHeaders };
}

export function stringToSign(algorithm: SigningAlgorithm, canonicalRequestText: string): string {
  return `${algorithm}\n${sha256Hex(canonicalRequestText)}`;
}

/** Button payload: `<algorithm>\n` + hex(SHA-256(payload string)), protocol sheet §7. */
export function buttonStringToSign(algorithm: SigningAlgorithm, payloadJson: string): string {
  return `${algorithm}\n${sha256Hex(payloadJson)}`;
}

function pssOptions(key: KeyObject, algorithm: SigningAlgorithm) {
  return {
    key,
    padding: cryptoConstants.RSA_PKCS1_PSS_PADDING,
    saltLength: SIGNING_ALGORITHMS[algorithm].saltLength,
  };
}

/**
 * Signs on libuv's thread pool (callback form of crypto.sign), so a burst of returns never stalls the
 * event loop: RSA-2048 costs ~0.25 ms of CPU per signature.
 */
export function signStringAsync(text: string, key: KeyObject, algorithm: SigningAlgorithm): Promise<string> {
  return new Promise((resolve, reject) => {
    sign('sha256', Buffer.from(text, 'utf8'), pssOptions(key, algorithm), (err, signature) => {
      if (err) reject(err);
      else resolve(signature.toString('base64'));
    });
  });
}

/** Synchronous variant, for the startup self-test only. */
export function signStringSync(text: string, key: KeyObject, algorithm: SigningAlgorithm): string {
  return sign('sha256', Buffer.from(text, 'utf8'), pssOptions(key, algorithm)).toString('base64');
}

export function verifyString(
  text: string,
  signatureBase64: string,
  publicKey: KeyObject,
  algorithm: SigningAlgorithm,
): boolean {
  try {
    return verify(
      'sha256',
      Buffer.from(text, 'utf8'),
      pssOptions(publicKey, algorithm),
      Buffer.from(signatureBase64, 'base64'),
    );
  } catch {
    return false;
  }
}

export function formatAuthorization(
  algorithm: SigningAlgorithm,
  publicKeyId: string,
  signedHeaders: string,
  signature: string,
): string {
  return `${algorithm} PublicKeyId=${publicKeyId}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
}

export interface ParsedAuthorization {
  algorithm: SigningAlgorithm;
  publicKeyId: string;
  signedHeaders: string[];
  signature: string;
}

export function parseAuthorization(value: string): ParsedAuthorization | undefined {
  const m = /^(\S+) PublicKeyId=([^,\s]+), ?SignedHeaders=([^,\s]+), ?Signature=(\S+)$/.exec(value.trim());
  if (!m) return undefined;
  const [, algorithm, publicKeyId, signedHeaders, signature] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
  ];
  if (!isSigningAlgorithm(algorithm)) return undefined;
  return { algorithm, publicKeyId, signedHeaders: signedHeaders.split(';'), signature };
}
