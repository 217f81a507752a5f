// Loads and checks the merchant's RSA private key once, turning every known way of getting it wrong into a specific, actionable error.
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type SigningAlgorithm, signStringSync, verifyString } from './signing.ts';

export const MIN_RSA_BITS = 2048;

export type KeyLoadErrorCode =
  | 'empty'
  | 'not-a-key'
  | 'malformed'
  | 'looks-like-path'
  | 'openssh'
  | 'putty'
  | 'encrypted'
  | 'public-key'
  | 'not-rsa'
  | 'too-small'
  | 'file-unreadable'
  | 'self-test-failed';

/**
 * Messages are written for the operator who has to fix the key and never contain key material: they are
 * built only from fixed text, labels of PEM armour, key types and sizes.
 */
export class KeyLoadError extends Error {
  readonly code: KeyLoadErrorCode;

  constructor(code: KeyLoadErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KeyLoadError';
    this.code = code;
  }
}

const SELLER_CENTRAL_HINT =
  'use the private .pem file that Seller Central generated with the public key id (Integration → API keys)';

const ARMOR = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)(?:-----END \1-----|$)/g;

interface PemBlock {
  label: string;
  body: string;
  complete: boolean;
}

function pemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(ARMOR)) {
    const [whole, label, body] = m as unknown as [string, string, string];
    blocks.push({ label, body, complete: whole.includes(`-----END ${label}-----`) });
  }
  return blocks;
}

/** Undoes what env files, JSON, YAML and copy-paste do to a PEM: quotes, a BOM, escaped or flattened newlines. */
function unwrapText(input: string): string {
  let text = input.replace(/^\uFEFF/, '').trim();
  const quoted = /^(["'])([\s\S]*)\1$/.exec(text);
  if (quoted) text = quoted[2]!.trim();
  // `\n` written literally (one or more backslashes, e.g. double-escaped in JSON inside YAML).
  return text.replace(/\\+r/g, '').replace(/\\+n/g, '\n').replace(/\r\n?/g, '\n');
}

function rewrap(label: string, body: string): string {
  const b64 = body.replace(/\s+/g, '');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

function readSshString(buf: Buffer, offset: number): { value: Buffer; next: number } | undefined {
  if (offset + 4 > buf.length) return undefined;
  const len = buf.readUInt32BE(offset);
  const end = offset + 4 + len;
  if (end > buf.length) return undefined;
  return { value: buf.subarray(offset + 4, end), next: end };
}

/** Reads the cipher and key type from the unencrypted header of an `openssh-key-v1` blob, for a precise message. */
function describeOpenSsh(body: string): { keyType: string | undefined; encrypted: boolean } {
  const buf = Buffer.from(body.replace(/\s+/g, ''), 'base64');
  const magic = Buffer.from('openssh-key-v1\0', 'latin1');
  if (!buf.subarray(0, magic.length).equals(magic)) return { keyType: undefined, encrypted: false };
  const cipher = readSshString(buf, magic.length);
  const kdf = cipher && readSshString(buf, cipher.next);
  const kdfOptions = kdf && readSshString(buf, kdf.next);
  const encrypted = cipher !== undefined && cipher.value.toString('latin1') !== 'none';
  if (!kdfOptions || kdfOptions.next + 4 > buf.length) return { keyType: undefined, encrypted };
  const publicBlob = readSshString(buf, kdfOptions.next + 4);
  const keyType = publicBlob && readSshString(publicBlob.value, 0);
  const name = keyType?.value.toString('latin1');
  return { keyType: name && /^[a-z0-9@.-]{1,64}$/.test(name) ? name : undefined, encrypted };
}

function opensshError(body: string): KeyLoadError {
  const { keyType, encrypted } = describeOpenSsh(body);
  const parts = [
    'the private key is in OpenSSH format (BEGIN OPENSSH PRIVATE KEY), which Amazon Pay request signing cannot use',
  ];
  if (keyType && keyType !== 'ssh-rsa') {
    parts.push(
      `; its key type is also ${keyType}, not RSA, so converting will not help: ${SELLER_CENTRAL_HINT}, or create an RSA-2048 key pair with \`openssl genrsa -out private.pem 2048\` and register its public key`,
    );
  } else {
    parts.push(
      `; convert a copy to PEM with \`ssh-keygen -p -m PEM -f <copy-of-key>\`${encrypted ? ' (it asks for the current passphrase; leave the new one empty)' : ''}, or ${SELLER_CENTRAL_HINT}`,
    );
  }
  return new KeyLoadError('openssh', parts.join(''));
}

function encryptedError(): KeyLoadError {
  return new KeyLoadError(
    'encrypted',
    'the private key is encrypted with a passphrase, which is not supported; decrypt it once with `openssl pkey -in encrypted.pem -out private.pem` (it asks for the passphrase) and protect the decrypted file (chmod 600)',
  );
}

function publicKeyError(what: string): KeyLoadError {
  return new KeyLoadError(
    'public-key',
    `this is ${what}, not a private key; give the private key (BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY) whose public key Amazon holds — ${SELLER_CENTRAL_HINT}`,
  );
}

function notAKeyError(): KeyLoadError {
  return new KeyLoadError(
    'not-a-key',
    'the private key is neither PEM, base64-encoded PEM nor DER; expected text starting with -----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----',
  );
}

const KEY_TYPE_NAMES: Record<string, string> = {
  ec: 'an EC (elliptic-curve)',
  ed25519: 'an Ed25519',
  ed448: 'an Ed448',
  x25519: 'an X25519',
  x448: 'an X448',
  dsa: 'a DSA',
  dh: 'a Diffie-Hellman',
};

/** Checks what the parsed key is: RSA (not RSA-PSS-restricted, not EC/Ed25519), at least 2048 bits. */
function checkRsaKey(key: KeyObject): KeyObject {
  const type = key.asymmetricKeyType;
  if (type === 'rsa-pss') {
    throw new KeyLoadError(
      'not-rsa',
      'the private key is an RSA-PSS-restricted key (OID id-RSASSA-PSS); Amazon Pay needs a plain RSA key (rsaEncryption) — export it as plain RSA or ' +
        SELLER_CENTRAL_HINT,
    );
  }
  if (type !== 'rsa') {
    const name = KEY_TYPE_NAMES[type ?? ''] ?? 'a non-RSA';
    throw new KeyLoadError(
      'not-rsa',
      `the private key is ${name} key; Amazon Pay signs with RSA (2048 bits): ${SELLER_CENTRAL_HINT}`,
    );
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) {
    throw new KeyLoadError(
      'too-small',
      `the RSA private key has ${bits} bits; at least ${MIN_RSA_BITS} are required — create a new key pair in Seller Central (Integration → API keys) and use its .pem`,
    );
  }
  return key;
}

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : undefined;
}

function parsePem(block: PemBlock): KeyObject {
  const { label, body } = block;
  if (label === 'OPENSSH PRIVATE KEY') throw opensshError(body);
  if (label === 'ENCRYPTED PRIVATE KEY' || /Proc-Type:\s*4,ENCRYPTED/i.test(body)) throw encryptedError();
  if (label === 'PUBLIC KEY' || label === 'RSA PUBLIC KEY')
    throw publicKeyError(`a public key (BEGIN ${label})`);
  if (label === 'CERTIFICATE') throw publicKeyError('a certificate (BEGIN CERTIFICATE)');
  if (label === 'SSH2 ENCRYPTED PRIVATE KEY') throw encryptedError();
  if (!label.endsWith('PRIVATE KEY')) {
    throw new KeyLoadError(
      'not-a-key',
      `the PEM block is a ${label}, not a private key; expected BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY`,
    );
  }
  if (!block.complete) {
    throw new KeyLoadError(
      'malformed',
      `the private key is truncated: -----END ${label}----- is missing (was the value cut off when it was copied?)`,
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: rewrap(label, body), format: 'pem' });
  } catch (err) {
    const code = errorCode(err);
    if (code === 'ERR_MISSING_PASSPHRASE') throw encryptedError();
    throw new KeyLoadError(
      'malformed',
      `the private key has ${label} markers but its contents could not be parsed (damaged or truncated while copying?); ${SELLER_CENTRAL_HINT}`,
      { cause: err },
    );
  }
  return checkRsaKey(key);
}

function parseDer(der: Buffer): KeyObject | undefined {
  for (const type of ['pkcs8', 'pkcs1'] as const) {
    try {
      return checkRsaKey(createPrivateKey({ key: der, format: 'der', type }));
    } catch (err) {
      if (err instanceof KeyLoadError) throw err;
    }
  }
  try {
    createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch {
    return undefined;
  }
  throw publicKeyError('a public key (DER)');
}

function looksLikePath(text: string): boolean {
  return (
    !/\s/.test(text) &&
    text.length < 4096 &&
    (/^(\.{1,2}[\\/]|~[\\/]|\/|[A-Za-z]:[\\/])/.test(text) || /\.(pem|key|txt|der|p8)$/i.test(text))
  );
}

function parseText(text: string, depth: number): KeyObject {
  if (text === '') throw new KeyLoadError('empty', 'the private key is empty');
  if (text.startsWith('PuTTY-User-Key-File-')) {
    throw new KeyLoadError(
      'putty',
      'the private key is a PuTTY .ppk file; convert it with `puttygen key.ppk -O private-openssh -o private.pem` (RSA keys come out as PEM), or ' +
        SELLER_CENTRAL_HINT,
    );
  }
  if (/^(ssh-rsa|ssh-ed25519|ecdsa-sha2-\S+|ssh-dss) AAAA/.test(text)) {
    throw publicKeyError('an OpenSSH public key (ssh-… AAAA…)');
  }
  const blocks = pemBlocks(text);
  if (blocks.length > 0) {
    // A file may hold several blocks (a certificate chain and the key, or both halves of the pair).
    const chosen = blocks.find((b) => /PRIVATE KEY$/.test(b.label)) ?? blocks[0]!;
    return parsePem(chosen);
  }
  if (text.includes('-----BEGIN')) {
    throw new KeyLoadError(
      'malformed',
      'the private key has a damaged -----BEGIN line; expected -----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----',
    );
  }
  if (looksLikePath(text)) {
    throw new KeyLoadError(
      'looks-like-path',
      'the private key value looks like a file path, not a key; pass the file contents (or configure the path as a key file)',
    );
  }
  // Base64 of a whole PEM (a common way to fit it on one line) or of the DER body alone.
  const compact = text.replace(/\s+/g, '');
  if (depth === 0 && /^[A-Za-z0-9+/_-]+={0,2}$/.test(compact) && compact.length >= 64) {
    const decoded = Buffer.from(compact, /[-_]/.test(compact) ? 'base64url' : 'base64');
    const asText = decoded.toString('utf8');
    if (asText.includes('-----BEGIN') || asText.startsWith('PuTTY-User-Key-File-')) {
      return parseText(unwrapText(asText), depth + 1);
    }
    if (decoded[0] === 0x30) {
      const key = parseDer(decoded);
      if (key) return key;
    }
  }
  throw notAKeyError();
}

/**
 * Parses the private key once. Accepts PEM (PKCS#1 or PKCS#8) as given, with newlines written as literal
 * `\n`, flattened to one line, wrapped in quotes, base64-encoded whole, or bytes of a PEM or DER file.
 */
export function loadPrivateKey(input: string | Uint8Array): KeyObject {
  if (typeof input !== 'string') {
    const bytes = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    if (bytes.length === 0) throw new KeyLoadError('empty', 'the private key is empty');
    if (bytes[0] === 0x30) {
      const key = parseDer(bytes);
      if (key) return key;
    }
    return parseText(unwrapText(bytes.toString('utf8')), 0);
  }
  return parseText(unwrapText(input), 0);
}

/** Reads a key file's bytes; errors name the path (not secret) and the OS reason, never the contents. */
export function readPrivateKeyFile(path: string): Buffer {
  const absolute = resolve(path);
  try {
    return readFileSync(absolute);
  } catch (err) {
    const code = errorCode(err);
    const reason =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'it is a directory'
            : (code ?? 'unreadable');
    throw new KeyLoadError('file-unreadable', `cannot read the key file ${absolute}: ${reason}`, {
      cause: err,
    });
  }
}

/**
 * Signs and verifies a random string with the algorithm in use, so a key that cannot sign is found at
 * startup instead of when the first buyer returns. The public key defaults to the private key's own half.
 */
export function selfTestKey(
  privateKey: KeyObject,
  algorithm: SigningAlgorithm,
  publicKey: KeyObject = createPublicKey(privateKey),
): void {
  const text = `${algorithm}\nself-test ${randomBytes(16).toString('hex')}`;
  let ok = false;
  try {
    ok = verifyString(text, signStringSync(text, privateKey, algorithm), publicKey, algorithm);
  } catch (err) {
    throw new KeyLoadError('self-test-failed', `signing a test string with ${algorithm} failed`, {
      cause: err,
    });
  }
  if (!ok) {
    throw new KeyLoadError(
      'self-test-failed',
      `a test signature (${algorithm}) did not verify with the public key: the key pair does not match`,
    );
  }
}

export interface DevKeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
  privateKeyPath: string;
  publicKeyPath: string;
  /** True when this call created the files, false when it reused them. */
  created: boolean;
}

export const DEV_PRIVATE_KEY_FILE = 'simulator-private-key.pem';
export const DEV_PUBLIC_KEY_FILE = 'simulator-public-key.pem';

/**
 * The simulator's own key pair: created once under `dir` and reused, so restarts keep verifying with the
 * same key. Publication is atomic (link of a complete temporary file), so two processes starting at once
 * end up with the same pair; the public half is always derived from the private file, never trusted.
 */
export function generateDevKeyPair(dir = 'data'): DevKeyPair {
  const root = resolve(dir);
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const privateKeyPath = join(root, DEV_PRIVATE_KEY_FILE);
  const publicKeyPath = join(root, DEV_PUBLIC_KEY_FILE);
  let created = false;
  let pem: Buffer;
  try {
    pem = readFileSync(privateKeyPath);
  } catch (err) {
    if (errorCode(err) !== 'ENOENT') {
      throw new KeyLoadError('file-unreadable', `cannot read the simulator key ${privateKeyPath}`, {
        cause: err,
      });
    }
    const generated = generateKeyPairSync('rsa', { modulusLength: MIN_RSA_BITS });
    const fresh = generated.privateKey.export({ type: 'pkcs8', format: 'pem' });
    const tmp = `${privateKeyPath}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(tmp, fresh, { mode: 0o600, flag: 'wx' });
    try {
      linkSync(tmp, privateKeyPath);
      created = true;
    } catch (linkErr) {
      if (errorCode(linkErr) !== 'EEXIST') throw linkErr;
    } finally {
      unlinkSync(tmp);
    }
    pem = readFileSync(privateKeyPath);
  }
  if (process.platform !== 'win32' && (statSync(privateKeyPath).mode & 0o077) !== 0) {
    chmodSync(privateKeyPath, 0o600);
  }
  let privateKey: KeyObject;
  try {
    privateKey = loadPrivateKey(pem);
  } catch (err) {
    const reason = err instanceof KeyLoadError ? err.message : 'unreadable';
    throw new KeyLoadError(
      err instanceof KeyLoadError ? err.code : 'malformed',
      `the simulator key ${privateKeyPath} is unusable (${reason}); delete it and ${DEV_PUBLIC_KEY_FILE} to have a new pair generated`,
      { cause: err },
    );
  }
  const publicKey = createPublicKey(privateKey);
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' });
  let currentPublic: string | undefined;
  try {
    currentPublic = readFileSync(publicKeyPath, 'utf8');
  } catch {
    currentPublic = undefined;
  }
  if (currentPublic !== publicPem) writeFileSync(publicKeyPath, publicPem, { mode: 0o600 });
  return { privateKey, publicKey, privateKeyPath, publicKeyPath, created };
}
