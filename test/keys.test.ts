// Private-key loading: every accepted format loads, every known mistake gets its own code and advice, none leaks key material.
import { execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DEV_PRIVATE_KEY_FILE,
  DEV_PUBLIC_KEY_FILE,
  generateDevKeyPair,
  KeyLoadError,
  type KeyLoadErrorCode,
  loadPrivateKey,
  readPrivateKeyFile,
  selfTestKey,
} from '../src/amazon-pay/keys.ts';
import { signStringSync, verifyString } from '../src/amazon-pay/signing.ts';

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url);
const amazonPkcs1 = readFileSync(fixture('amazon-test-key-private-pkcs1.pem'), 'utf8');
const amazonPublic = createPublicKey(readFileSync(fixture('amazon-test-key-public.pem')));
// Fixtures made with `ssh-keygen -t rsa|ed25519 -N ''`: throwaway keys that exist only for these tests.
const opensshRsa = readFileSync(fixture('openssh-rsa-test-key'), 'utf8');
const opensshEd25519 = readFileSync(fixture('openssh-ed25519-test-key'), 'utf8');

const rsa2048 = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pkcs8 = rsa2048.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
const pkcs1 = rsa2048.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string;

const tmp = mkdtempSync(join(tmpdir(), 'keys-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function samePublicKey(a: KeyObject, b: KeyObject): boolean {
  return a.export({ type: 'spki', format: 'der' }).equals(b.export({ type: 'spki', format: 'der' }));
}

/** Every 12-character run of the input's base64 alphabet, to prove none of it reaches a message. */
function keyMaterialChunks(input: string): string[] {
  const compact = input
    .replace(/-----[A-Z ]+-----/g, '')
    .replace(/\\n/g, '')
    .replace(/[^A-Za-z0-9+/=]/g, '');
  const chunks: string[] = [];
  for (let i = 0; i + 12 <= compact.length; i += 12) chunks.push(compact.slice(i, i + 12));
  return chunks;
}

function expectKeyError(input: string | Uint8Array, code: KeyLoadErrorCode): KeyLoadError {
  let caught: unknown;
  try {
    loadPrivateKey(input);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(KeyLoadError);
  const error = caught as KeyLoadError;
  expect(error.code).toBe(code);
  const text = typeof input === 'string' ? input : Buffer.from(input).toString('base64');
  for (const chunk of keyMaterialChunks(text)) expect(error.message).not.toContain(chunk);
  return error;
}

function expectSigns(key: KeyObject, publicKey: KeyObject = createPublicKey(key)) {
  expect(key.type).toBe('private');
  expect(key.asymmetricKeyType).toBe('rsa');
  for (const algorithm of ['AMZN-PAY-RSASSA-PSS', 'AMZN-PAY-RSASSA-PSS-V2'] as const) {
    selfTestKey(key, algorithm);
    const signature = signStringSync('hello', key, algorithm);
    expect(verifyString('hello', signature, publicKey, algorithm)).toBe(true);
  }
}

describe('accepted key formats', () => {
  it('PKCS#1 PEM (the published Amazon test key) verifies with its public key', () => {
    expectSigns(loadPrivateKey(amazonPkcs1), amazonPublic);
  });

  it('PKCS#8 PEM', () => {
    const key = loadPrivateKey(pkcs8);
    expectSigns(key, rsa2048.publicKey);
    expect(key.asymmetricKeyDetails?.modulusLength).toBe(2048);
  });

  it('newlines escaped as literal \\n (single and double escaped), and CRLF', () => {
    expectSigns(loadPrivateKey(pkcs8.replace(/\n/g, '\\n')), rsa2048.publicKey);
    expectSigns(loadPrivateKey(pkcs1.replace(/\n/g, '\\\\n')), rsa2048.publicKey);
    expectSigns(loadPrivateKey(amazonPkcs1.replace(/\n/g, '\r\n')), amazonPublic);
    expectSigns(loadPrivateKey(pkcs1.replace(/\n/g, '\\r\\n')), rsa2048.publicKey);
  });

  it('a PEM flattened to one line with spaces', () => {
    const flat = amazonPkcs1.trim().replace(/\n/g, ' ');
    expect(flat).not.toContain('\n');
    expectSigns(loadPrivateKey(flat), amazonPublic);
    expectSigns(loadPrivateKey(pkcs8.replace(/\n/g, ' ')), rsa2048.publicKey);
  });

  it('base64 of the whole PEM, and base64 of the DER body alone', () => {
    expectSigns(loadPrivateKey(Buffer.from(amazonPkcs1).toString('base64')), amazonPublic);
    expectSigns(loadPrivateKey(Buffer.from(pkcs8).toString('base64url')), rsa2048.publicKey);
    const derBody = rsa2048.privateKey.export({ type: 'pkcs1', format: 'der' }).toString('base64');
    expectSigns(loadPrivateKey(derBody), rsa2048.publicKey);
  });

  it('surrounding quotes, a BOM and blank lines around the PEM', () => {
    expectSigns(loadPrivateKey(`"${pkcs8.replace(/\n/g, '\\n')}"`), rsa2048.publicKey);
    expectSigns(loadPrivateKey(`\uFEFF\n\n${amazonPkcs1}\n\n`), amazonPublic);
  });

  it('a file holding a certificate-like block before the key picks the private key', () => {
    const both = `${rsa2048.publicKey.export({ type: 'spki', format: 'pem' })}${pkcs8}`;
    expectSigns(loadPrivateKey(both), rsa2048.publicKey);
  });

  it('files: PEM and DER bytes via readPrivateKeyFile', () => {
    const pemPath = join(tmp, 'key.pem');
    writeFileSync(pemPath, amazonPkcs1, { mode: 0o600 });
    expectSigns(loadPrivateKey(readPrivateKeyFile(pemPath)), amazonPublic);
    const derPath = join(tmp, 'key.der');
    writeFileSync(derPath, rsa2048.privateKey.export({ type: 'pkcs8', format: 'der' }));
    expectSigns(loadPrivateKey(readPrivateKeyFile(derPath)), rsa2048.publicKey);
  });
});

describe('refused keys, each with its own code and advice', () => {
  it('OpenSSH RSA key: convert with ssh-keygen -p -m PEM or use the Seller Central .pem', () => {
    const err = expectKeyError(opensshRsa, 'openssh');
    expect(err.message).toContain('BEGIN OPENSSH PRIVATE KEY');
    expect(err.message).toContain('ssh-keygen -p -m PEM');
    expect(err.message).toContain('Seller Central');
    expectKeyError(opensshRsa.replace(/\n/g, '\\n'), 'openssh');
    expectKeyError(Buffer.from(opensshRsa).toString('base64'), 'openssh');
  });

  it('the advice for OpenSSH keys works: the converted copy loads (when ssh-keygen is installed)', () => {
    let hasSshKeygen = true;
    try {
      execFileSync('ssh-keygen', ['-?'], { stdio: 'ignore' });
    } catch (err) {
      // `ssh-keygen -?` prints usage and exits 1; only a missing binary is ENOENT.
      hasSshKeygen = (err as NodeJS.ErrnoException).code !== 'ENOENT';
    }
    if (!hasSshKeygen) return;
    const copy = join(tmp, 'converted-key');
    copyFileSync(fixture('openssh-rsa-test-key'), copy);
    chmodSync(copy, 0o600);
    execFileSync('ssh-keygen', ['-p', '-m', 'PEM', '-N', '', '-P', '', '-f', copy], { stdio: 'ignore' });
    expectSigns(loadPrivateKey(readFileSync(copy)));
  });

  it('OpenSSH Ed25519 key: says converting will not help, it is not RSA', () => {
    const err = expectKeyError(opensshEd25519, 'openssh');
    expect(err.message).toContain('ssh-ed25519');
    expect(err.message).toContain('not RSA');
  });

  it('encrypted PKCS#8 and encrypted traditional PEM: decrypt with openssl pkey', () => {
    const encrypted8 = rsa2048.privateKey.export({
      type: 'pkcs8',
      format: 'pem',
      cipher: 'aes-256-cbc',
      passphrase: 'correct horse',
    }) as string;
    expect(expectKeyError(encrypted8, 'encrypted').message).toContain('openssl pkey');
    const encrypted1 = rsa2048.privateKey.export({
      type: 'pkcs1',
      format: 'pem',
      cipher: 'aes-128-cbc',
      passphrase: 'correct horse',
    }) as string;
    expect(encrypted1).toContain('Proc-Type: 4,ENCRYPTED');
    expect(expectKeyError(encrypted1, 'encrypted').message).toContain('openssl pkey');
    expectKeyError(encrypted8.replace(/\n/g, '\\n'), 'encrypted');
  });

  it('non-RSA keys: EC (SEC1 and PKCS#8), Ed25519, RSA-PSS-restricted', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    expect(expectKeyError(ec.export({ type: 'sec1', format: 'pem' }) as string, 'not-rsa').message).toContain(
      'EC',
    );
    expectKeyError(ec.export({ type: 'pkcs8', format: 'pem' }) as string, 'not-rsa');
    const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    expect(expectKeyError(ed, 'not-rsa').message).toContain('Ed25519');
    const pss = generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    }) as string;
    expectKeyError(pss, 'not-rsa');
  });

  it('RSA keys under 2048 bits', () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    const err = expectKeyError(small.export({ type: 'pkcs1', format: 'pem' }) as string, 'too-small');
    expect(err.message).toContain('1024');
    expect(err.message).toContain('2048');
    expectKeyError(small.export({ type: 'pkcs8', format: 'der' }), 'too-small');
  });

  it('a public key given as the private key (SPKI, PKCS#1, DER, OpenSSH one-liner)', () => {
    const spki = rsa2048.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    expect(expectKeyError(spki, 'public-key').message).toContain('public key');
    expectKeyError(rsa2048.publicKey.export({ type: 'pkcs1', format: 'pem' }) as string, 'public-key');
    expectKeyError(rsa2048.publicKey.export({ type: 'spki', format: 'der' }), 'public-key');
    expectKeyError(readFileSync(fixture('amazon-test-key-public.pem'), 'utf8'), 'public-key');
    const blob = Buffer.concat([Buffer.from([0, 0, 0, 7]), Buffer.from('ssh-rsa'), Buffer.alloc(270, 1)]);
    const sshPublic = `ssh-rsa ${blob.toString('base64')} someone@host`;
    expectKeyError(sshPublic, 'public-key');
  });

  it('empty, whitespace and garbage', () => {
    expectKeyError('', 'empty');
    expectKeyError('   \n  ', 'empty');
    expectKeyError(new Uint8Array(), 'empty');
    expectKeyError('hello world', 'not-a-key');
    expectKeyError('changeme', 'not-a-key');
    expectKeyError('A'.repeat(200), 'not-a-key');
    expectKeyError(Buffer.from([0x30, 0x82, 0x01, 0x00, 0xff, 0xfe]), 'not-a-key');
  });

  it('a PuTTY key file', () => {
    expectKeyError('PuTTY-User-Key-File-3: ssh-rsa\nEncryption: none\nComment: x\n', 'putty');
  });

  it('damaged PEMs: a missing END line, a cut body, a mangled BEGIN line', () => {
    expectKeyError(amazonPkcs1.slice(0, 600), 'malformed');
    const cut = `${amazonPkcs1.slice(0, 400)}\n${amazonPkcs1.slice(-32)}`;
    expectKeyError(cut, 'malformed');
    expectKeyError(
      amazonPkcs1.replace('-----BEGIN RSA PRIVATE KEY-----', '-----BEGIN RSA PRIVATE KEY---'),
      'malformed',
    );
  });

  it('a file path passed where the key text belongs', () => {
    expectKeyError('./secrets/amazon-pay.pem', 'looks-like-path');
    expectKeyError('/run/secrets/key', 'looks-like-path');
  });

  it('an unreadable key file names the path and the reason', () => {
    const missing = join(tmp, 'nope.pem');
    let caught: unknown;
    try {
      readPrivateKeyFile(missing);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(KeyLoadError);
    expect((caught as KeyLoadError).code).toBe('file-unreadable');
    expect((caught as KeyLoadError).message).toContain(missing);
    expect((caught as KeyLoadError).message).toContain('no such file');
    expect(() => readPrivateKeyFile(tmp)).toThrow(/directory/);
  });
});

describe('selfTestKey', () => {
  it('fails when the public key belongs to another pair', () => {
    const key = loadPrivateKey(pkcs8);
    let caught: unknown;
    try {
      selfTestKey(key, 'AMZN-PAY-RSASSA-PSS-V2', amazonPublic);
    } catch (err) {
      caught = err;
    }
    expect((caught as KeyLoadError).code).toBe('self-test-failed');
  });
});

describe('generateDevKeyPair', () => {
  it('creates an RSA-2048 PKCS#8 pair once, mode 0600, and reuses it', () => {
    const dir = join(tmp, 'dev', 'nested');
    const first = generateDevKeyPair(dir);
    expect(first.created).toBe(true);
    expect(first.privateKeyPath).toBe(join(dir, DEV_PRIVATE_KEY_FILE));
    expect(first.publicKeyPath).toBe(join(dir, DEV_PUBLIC_KEY_FILE));
    const privatePem = readFileSync(first.privateKeyPath, 'utf8');
    expect(privatePem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(readFileSync(first.publicKeyPath, 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    expect(first.privateKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    if (process.platform !== 'win32') {
      expect(statSync(first.privateKeyPath).mode & 0o777).toBe(0o600);
      expect(statSync(first.publicKeyPath).mode & 0o777).toBe(0o600);
    }
    expectSigns(first.privateKey, first.publicKey);

    const second = generateDevKeyPair(dir);
    expect(second.created).toBe(false);
    expect(samePublicKey(second.publicKey, first.publicKey)).toBe(true);
    expect(readFileSync(second.privateKeyPath, 'utf8')).toBe(privatePem);
  });

  it('tightens a private key file that became group-readable and rewrites a missing public file', () => {
    const dir = join(tmp, 'dev-perms');
    const first = generateDevKeyPair(dir);
    chmodSync(first.privateKeyPath, 0o644);
    rmSync(first.publicKeyPath);
    const again = generateDevKeyPair(dir);
    if (process.platform !== 'win32') expect(statSync(again.privateKeyPath).mode & 0o777).toBe(0o600);
    expect(samePublicKey(createPublicKey(readFileSync(again.publicKeyPath)), first.publicKey)).toBe(true);
  });

  it('a damaged key file is reported with its path and how to recover', () => {
    const dir = join(tmp, 'dev-broken');
    const { privateKeyPath } = generateDevKeyPair(dir);
    writeFileSync(privateKeyPath, 'not a key');
    expect(() => generateDevKeyPair(dir)).toThrow(new RegExp(`${privateKeyPath}.*delete it`));
  });
});
