// Helpers for tests that talk to the simulator: build and send Amazon-Pay-signed requests over real HTTP.
import type { KeyObject } from 'node:crypto';
import { request } from 'undici';
import {
  buildCanonicalRequest,
  DEFAULT_ALGORITHM,
  formatAmzDate,
  formatAuthorization,
  type SigningAlgorithm,
  signStringSync,
  stringToSign,
} from '../amazon-pay/signing.ts';

export interface SignedRequestInit {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  /** Path as sent, e.g. `/v2/checkoutSessions/<id>/complete`. */
  path: string;
  /** Exact body bytes; omit for none. */
  body?: string;
  privateKey: KeyObject;
  publicKeyId: string;
  algorithm?: SigningAlgorithm;
  /** x-amz-pay-date: a Date, a preformatted string, or now. */
  date?: Date | string;
  /** Extra headers that are signed (e.g. x-amz-pay-idempotency-key). */
  headers?: Record<string, string>;
  /** Extra headers that are sent but not signed (e.g. x-amz-pay-simulation-code). */
  unsignedHeaders?: Record<string, string>;
}

/** The headers to send, authorization included, signed the way our own client signs (protocol sheet §2.3). */
export function signRequest(init: SignedRequestInit): Record<string, string> {
  const algorithm = init.algorithm ?? DEFAULT_ALGORITHM;
  const date = init.date === undefined ? new Date() : init.date;
  const signed: Record<string, string> = {
    accept: 'application/json',
    'content-type': 'application/json',
    'x-amz-pay-date': typeof date === 'string' ? date : formatAmzDate(date),
    'x-amz-pay-host': 'pay-api.amazon.com',
    'x-amz-pay-region': 'na',
  };
  for (const [name, value] of Object.entries(init.headers ?? {})) signed[name.toLowerCase()] = value;
  const canonical = buildCanonicalRequest({
    method: init.method,
    path: init.path,
    headers: signed,
    payload: init.body ?? '',
  });
  const signature = signStringSync(stringToSign(algorithm, canonical.text), init.privateKey, algorithm);
  return {
    ...signed,
    ...init.unsignedHeaders,
    authorization: formatAuthorization(algorithm, init.publicKeyId, canonical.signedHeaders, signature),
  };
}

export interface SimpleResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json(): unknown;
}

/** Sends raw headers and body to `baseUrl + path` with undici and reads the whole answer. */
export async function sendRaw(
  baseUrl: string,
  init: { method: string; path: string; headers: Record<string, string>; body?: string },
): Promise<SimpleResponse> {
  const res = await request(`${baseUrl}${init.path}`, {
    method: init.method as 'GET',
    headers: init.headers,
    ...(init.body === undefined ? {} : { body: init.body }),
  });
  const text = await res.body.text();
  return {
    status: res.statusCode,
    headers: res.headers,
    text,
    json: () => JSON.parse(text),
  };
}

/** Signs and sends in one step. */
export function sendSigned(baseUrl: string, init: SignedRequestInit): Promise<SimpleResponse> {
  return sendRaw(baseUrl, {
    method: init.method,
    path: init.path,
    headers: signRequest(init),
    ...(init.body === undefined ? {} : { body: init.body }),
  });
}
