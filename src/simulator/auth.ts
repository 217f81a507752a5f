// Request authentication as Amazon Pay does it: parse the Authorization header, rebuild the canonical request
// from the headers named in SignedHeaders and the exact body bytes, check x-amz-pay-date, verify RSA-PSS.
import type { KeyObject } from 'node:crypto';
import {
  buildCanonicalRequest,
  type CanonicalRequestInput,
  type ParsedAuthorization,
  parseAmzDate,
  parseAuthorization,
  type QueryParams,
  stringToSign,
  verifyString,
} from '../amazon-pay/signing.ts';

export interface IncomingSignedRequest {
  method: string;
  /** The path exactly as received on the wire (percent-encoding untouched), without the query string. */
  rawPath: string;
  query: QueryParams;
  /** Lowercased names, every value of repeated headers. */
  headers: Record<string, string[] | undefined>;
  body: Buffer;
}

export interface AuthOptions {
  publicKeys: Record<string, KeyObject>;
  /** Wall-clock epoch ms used for the x-amz-pay-date check. */
  now: number;
  maxAgeMs: number;
  maxFutureMs: number;
}

export interface AuthError {
  status: number;
  reasonCode: string;
  message: string;
}

export type AuthResult = { ok: true; auth: ParsedAuthorization } | { ok: false; error: AuthError };

function fail(status: number, reasonCode: string, message: string): AuthResult {
  return { ok: false, error: { status, reasonCode, message } };
}

function safeDecode(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

export function authenticate(req: IncomingSignedRequest, opts: AuthOptions): AuthResult {
  const header = req.headers.authorization?.[0];
  // Error-handling table (protocol sheet §5.3): a missing required header is 400 MissingHeader.
  if (header === undefined || header.trim() === '') {
    return fail(400, 'MissingHeader', 'The request is missing the required header: authorization');
  }
  const auth = parseAuthorization(header);
  // Our choice (Amazon's exact answer is UNCONFIRMED): an unparseable header or an unknown algorithm is a
  // client bug in header syntax, answered 400 InvalidHeaderValue so it is not confused with a bad key.
  if (!auth || auth.signedHeaders.some((name) => name === '' || name !== name.toLowerCase())) {
    return fail(400, 'InvalidHeaderValue', 'The value provided for the authorization header is invalid');
  }
  const publicKey = opts.publicKeys[auth.publicKeyId];
  // Protocol sheet §5.3: 403 InvalidAuthentication is Amazon's code for credentials it does not recognise.
  if (!publicKey) {
    return fail(403, 'InvalidAuthentication', `The public key ID ${auth.publicKeyId} is not valid`);
  }

  const dateValue = req.headers['x-amz-pay-date']?.[0];
  if (dateValue === undefined) {
    return fail(400, 'MissingHeader', 'The request is missing the required header: x-amz-pay-date');
  }
  // Without the date in the signature a captured request could be replayed forever.
  if (!auth.signedHeaders.includes('x-amz-pay-date')) {
    return fail(
      403,
      'InvalidRequestSignature',
      'The header x-amz-pay-date must be included in SignedHeaders',
    );
  }
  // Protocol sheet §2.4: basic format, and the extended format the Node SDK sends, are both accepted.
  const date = parseAmzDate(dateValue.trim());
  if (!date) {
    return fail(400, 'InvalidHeaderValue', `The value ${dateValue} provided for x-amz-pay-date is invalid`);
  }
  if (date.getTime() > opts.now + opts.maxFutureMs) {
    // Amazon's own wording (protocol sheet §2.4).
    return fail(
      400,
      'InvalidHeaderValue',
      `The value ${dateValue} provided for x-amz-pay-date should not be in future`,
    );
  }
  if (date.getTime() < opts.now - opts.maxAgeMs) {
    return fail(400, 'InvalidHeaderValue', `The value ${dateValue} provided for x-amz-pay-date has expired`);
  }

  const signed: Record<string, string[]> = {};
  let missing = false;
  for (const name of auth.signedHeaders) {
    const values = req.headers[name];
    if (values === undefined) missing = true;
    signed[name] = values ?? [''];
  }

  // Protocol sheet §2.2: Java/.NET sign the decoded path encoded once; our client and the Node SDK sign the
  // path as sent. For UUID ids both are the same string; for anything else either form is accepted.
  const candidates = [...new Set([safeDecode(req.rawPath), req.rawPath])];
  const base: Omit<CanonicalRequestInput, 'path'> = {
    method: req.method,
    query: req.query,
    headers: signed,
    payload: req.body,
  };
  let firstStringToSign: string | undefined;
  for (const path of candidates) {
    const sts = stringToSign(auth.algorithm, buildCanonicalRequest({ ...base, path }).text);
    firstStringToSign ??= sts;
    // Protocol sheet §2.1: the algorithm name fixes the PSS salt length (20 or 32).
    if (!missing && verifyString(sts, auth.signature, publicKey, auth.algorithm)) return { ok: true, auth };
  }
  // Protocol sheet §2.5: Amazon echoes the string-to-sign it computed.
  return fail(
    403,
    'InvalidRequestSignature',
    `Unable to verify signature, signing String [${firstStringToSign}] , signature [${auth.signature}]`,
  );
}
