// Configuration: defaults, every rule of DESIGN §4, one line per problem naming the variable, secrets never echoed.
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { signStringSync, verifyString } from '../src/amazon-pay/signing.ts';
import {
  type Config,
  ConfigError,
  ENV_VARIABLES,
  EnvSchema,
  formatConfigError,
  loadConfig,
  SIMULATOR_MERCHANT_ID,
  SIMULATOR_PUBLIC_KEY_ID,
  SIMULATOR_STORE_ID,
} from '../src/config.ts';

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url);
const amazonPkcs1 = readFileSync(fixture('amazon-test-key-private-pkcs1.pem'), 'utf8');
const opensshRsa = readFileSync(fixture('openssh-rsa-test-key'), 'utf8');

const tmp = mkdtempSync(join(tmpdir(), 'config-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const COOKIE_SECRET = 'c00kie-secret-c00kie-secret-c00kie-secret';
const keyFile = join(tmp, 'amazon-pay.pem');
writeFileSync(keyFile, amazonPkcs1, { mode: 0o600 });

/** A complete non-simulator configuration; each test changes what it is about. */
function realEnv(overrides: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return {
    DATA_DIR: join(tmp, 'data'),
    COOKIE_SECRET,
    AMAZON_PAY_PUBLIC_KEY_ID: 'SANDBOX-AHEGSJCM3GXNK7EY2VWPZ2NA',
    AMAZON_PAY_PRIVATE_KEY_FILE: keyFile,
    AMAZON_PAY_MERCHANT_ID: 'A2BCDEFGHIJ3KL',
    AMAZON_PAY_STORE_ID: 'amzn1.application-oa2-client.0123456789abcdef0123456789abcdef',
    ...overrides,
  };
}

function signWith(config: Config, text: string): string {
  return signStringSync(text, config.privateKey, config.algorithm);
}

function simulatorEnv(overrides: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return { DATA_DIR: join(tmp, 'sim-data'), ...overrides };
}

function configError(env: NodeJS.ProcessEnv): ConfigError {
  let caught: unknown;
  try {
    loadConfig(env);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  return caught as ConfigError;
}

/** The problems, asserting that each one starts with a variable name and that no secret is echoed. */
function problemsOf(env: NodeJS.ProcessEnv, secrets: string[] = []): string[] {
  const error = configError(env);
  for (const problem of error.problems) expect(problem).toMatch(/^[A-Z][A-Z0-9_]+: \S/);
  const text = `${formatConfigError(error)}\n${error.message}\n${error.stack ?? ''}`;
  for (const secret of secrets) expect(text).not.toContain(secret);
  return [...error.problems];
}

function expectProblem(env: NodeJS.ProcessEnv, variable: string, pattern?: RegExp, secrets: string[] = []) {
  const problems = problemsOf(env, secrets);
  const mine = problems.filter((p) => p.startsWith(`${variable}: `));
  expect(mine, `problems: ${problems.join(' | ')}`).not.toHaveLength(0);
  if (pattern) expect(mine.join('\n')).toMatch(pattern);
  return problems;
}

describe('the simulator default (no credentials)', () => {
  it('runs the simulator with a generated key, simulator ids and documented defaults', () => {
    const config = loadConfig(simulatorEnv());
    expect(config.simulator).toBe(true);
    expect(config.publicKeyId).toBe(SIMULATOR_PUBLIC_KEY_ID);
    expect(config.merchantId).toBe(SIMULATOR_MERCHANT_ID);
    expect(config.storeId).toBe(SIMULATOR_STORE_ID);
    expect(config.sandbox).toBe(true);
    expect(config.privateKeySource).toContain(join(tmp, 'sim-data'));
    expect(verifyString('x', signWith(config, 'x'), config.publicKey, config.algorithm)).toBe(true);
    expect(config).toMatchObject({
      nodeEnv: 'development',
      isProduction: false,
      port: 3000,
      host: '127.0.0.1',
      publicBaseUrl: 'http://localhost:3000',
      logLevel: 'info',
      databaseUrl: `sqlite:${join(tmp, 'sim-data', 'checkout.db')}`,
      checkoutStartUrl: '/checkout',
      region: 'na',
      algorithm: 'AMZN-PAY-RSASSA-PSS-V2',
      apiBaseUrl: undefined,
      rateLimitMax: 120,
      piiRetentionDays: 30,
      amazonPayTimeoutMs: 8000,
      amazonPayBudgetMs: 20_000,
      returnWaitMs: 10_000,
      reconcileIntervalMs: 15_000,
      shutdownDrainMs: 25_000,
      simulatorPort: 3001,
      metricsToken: undefined,
      trustProxy: undefined,
      redisUrl: undefined,
    });
  });

  it('reuses the generated key on the next start', () => {
    const a = loadConfig(simulatorEnv());
    const b = loadConfig(simulatorEnv());
    expect(a.publicKey.export({ format: 'jwk' })).toEqual(b.publicKey.export({ format: 'jwk' }));
  });

  it('uses a random per-process cookie secret with a warning', () => {
    const a = loadConfig(simulatorEnv());
    const b = loadConfig(simulatorEnv());
    expect(a.cookieSecretGenerated).toBe(true);
    expect(a.cookieSecret.length).toBeGreaterThanOrEqual(32);
    expect(a.cookieSecret).not.toBe(b.cookieSecret);
    expect(a.warnings.some((w) => w.startsWith('COOKIE_SECRET'))).toBe(true);
    expect(a.warnings.join('\n')).not.toContain(a.cookieSecret);
    const set = loadConfig(simulatorEnv({ COOKIE_SECRET }));
    expect(set.cookieSecretGenerated).toBe(false);
    expect(set.warnings.some((w) => w.startsWith('COOKIE_SECRET'))).toBe(false);
  });

  it('PUBLIC_BASE_URL follows PORT when unset; a trailing slash is dropped when set', () => {
    expect(loadConfig(simulatorEnv({ PORT: '8080', SIMULATOR_PORT: '8081' })).publicBaseUrl).toBe(
      'http://localhost:8080',
    );
    expect(loadConfig(simulatorEnv({ PUBLIC_BASE_URL: 'https://shop.example/pay/' })).publicBaseUrl).toBe(
      'https://shop.example/pay',
    );
  });

  it('uses a configured key with the simulator, and AMAZON_PAY_SIMULATOR=false turns it off', () => {
    const withKey = loadConfig(simulatorEnv({ AMAZON_PAY_PRIVATE_KEY: amazonPkcs1 }));
    expect(withKey.privateKeySource).toBe('AMAZON_PAY_PRIVATE_KEY');
    expect(withKey.simulator).toBe(true);
    expect(loadConfig(realEnv()).simulator).toBe(false);
    expect(loadConfig(realEnv({ AMAZON_PAY_SIMULATOR: 'true' })).simulator).toBe(true);
    expectProblem(simulatorEnv({ AMAZON_PAY_SIMULATOR: 'false' }), 'AMAZON_PAY_PUBLIC_KEY_ID', /required/);
  });

  it('SIMULATOR_PORT must differ from PORT', () => {
    expectProblem(simulatorEnv({ PORT: '4000', SIMULATOR_PORT: '4000' }), 'SIMULATOR_PORT', /PORT/);
    expect(loadConfig(simulatorEnv({ PORT: '0', SIMULATOR_PORT: '0' })).port).toBe(0);
  });
});

describe('a real Amazon Pay configuration', () => {
  it('loads the key file, derives the environment from the key id and freezes the result', () => {
    const config = loadConfig(realEnv());
    expect(config.simulator).toBe(false);
    expect(config.sandbox).toBe(true);
    expect(config.privateKeySource).toContain(keyFile);
    expect(config.publicKey.type).toBe('public');
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.database)).toBe(true);
    expect(Object.isFrozen(config.warnings)).toBe(true);
    expect(() => {
      (config as { port: number }).port = 1;
    }).toThrow(TypeError);
    expect(config.warnings).toEqual([]);
  });

  it('accepts the key as PEM text in every repaired form', () => {
    for (const text of [
      amazonPkcs1,
      amazonPkcs1.replace(/\n/g, '\\n'),
      amazonPkcs1.trim().replace(/\n/g, ' '),
      Buffer.from(amazonPkcs1).toString('base64'),
    ]) {
      const config = loadConfig(
        realEnv({ AMAZON_PAY_PRIVATE_KEY_FILE: undefined, AMAZON_PAY_PRIVATE_KEY: text }),
      );
      expect(config.privateKeySource).toBe('AMAZON_PAY_PRIVATE_KEY');
    }
  });

  it('LIVE- key ids mean live; legacy ids follow AMAZON_PAY_SANDBOX (default true, with a warning)', () => {
    expect(loadConfig(realEnv({ AMAZON_PAY_PUBLIC_KEY_ID: 'LIVE-AHEGSJCM3GXNK7EY2VWPZ2NA' })).sandbox).toBe(
      false,
    );
    const legacy = loadConfig(realEnv({ AMAZON_PAY_PUBLIC_KEY_ID: 'AHEGSJCM3GXNK7EY2VWPZ2NA' }));
    expect(legacy.sandbox).toBe(true);
    expect(legacy.warnings.join('\n')).toContain('AMAZON_PAY_SANDBOX');
    const live = loadConfig(
      realEnv({ AMAZON_PAY_PUBLIC_KEY_ID: 'AHEGSJCM3GXNK7EY2VWPZ2NA', AMAZON_PAY_SANDBOX: 'false' }),
    );
    expect(live.sandbox).toBe(false);
    expect(live.warnings).toEqual([]);
    expect(loadConfig(realEnv({ AMAZON_PAY_SANDBOX: 'true' })).sandbox).toBe(true);
  });

  it('a LIVE-/SANDBOX- key id contradicting AMAZON_PAY_SANDBOX is a startup error', () => {
    const live = expectProblem(
      realEnv({ AMAZON_PAY_PUBLIC_KEY_ID: 'LIVE-AHEGSJCM3GXNK7EY2VWPZ2NA', AMAZON_PAY_SANDBOX: 'true' }),
      'AMAZON_PAY_SANDBOX',
      /AMAZON_PAY_PUBLIC_KEY_ID.*LIVE-/,
    );
    expect(live).toHaveLength(1);
    expectProblem(realEnv({ AMAZON_PAY_SANDBOX: 'false' }), 'AMAZON_PAY_SANDBOX', /SANDBOX-/);
    expectProblem(realEnv({ AMAZON_PAY_SANDBOX: 'no' }), 'AMAZON_PAY_SANDBOX', /SANDBOX-/);
  });

  it('region aliases, algorithm choice and API base URL override', () => {
    expect(loadConfig(realEnv({ AMAZON_PAY_REGION: 'US' })).region).toBe('na');
    expect(loadConfig(realEnv({ AMAZON_PAY_REGION: 'uk' })).region).toBe('eu');
    expect(loadConfig(realEnv({ AMAZON_PAY_REGION: 'de' })).region).toBe('eu');
    expect(loadConfig(realEnv({ AMAZON_PAY_REGION: 'jp' })).region).toBe('jp');
    expectProblem(realEnv({ AMAZON_PAY_REGION: 'mars' }), 'AMAZON_PAY_REGION', /na, eu, jp/);
    expect(loadConfig(realEnv({ AMAZON_PAY_ALGORITHM: 'AMZN-PAY-RSASSA-PSS' })).algorithm).toBe(
      'AMZN-PAY-RSASSA-PSS',
    );
    expectProblem(
      realEnv({ AMAZON_PAY_ALGORITHM: 'RSA-SHA256' }),
      'AMAZON_PAY_ALGORITHM',
      /AMZN-PAY-RSASSA-PSS-V2/,
    );
    expect(loadConfig(realEnv({ AMAZON_PAY_API_BASE_URL: 'http://127.0.0.1:4010/' })).apiBaseUrl).toBe(
      'http://127.0.0.1:4010',
    );
    expectProblem(
      realEnv({ AMAZON_PAY_API_BASE_URL: 'https://proxy.example/v2' }),
      'AMAZON_PAY_API_BASE_URL',
    );
    expectProblem(realEnv({ AMAZON_PAY_API_BASE_URL: 'pay-api.amazon.com' }), 'AMAZON_PAY_API_BASE_URL');
  });

  it('requires key id, exactly one key source, merchant id and store id outside the simulator', () => {
    const problems = problemsOf({
      DATA_DIR: join(tmp, 'data'),
      AMAZON_PAY_SIMULATOR: 'false',
    });
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual([
      'AMAZON_PAY_MERCHANT_ID',
      'AMAZON_PAY_PRIVATE_KEY',
      'AMAZON_PAY_PUBLIC_KEY_ID',
      'AMAZON_PAY_STORE_ID',
    ]);
    expectProblem(
      realEnv({ AMAZON_PAY_PRIVATE_KEY: amazonPkcs1 }),
      'AMAZON_PAY_PRIVATE_KEY_FILE',
      /not both/,
      [...amazonPkcs1.split('\n').slice(1, -2)],
    );
  });

  it('key problems name the variable, give the advice and never echo the key', () => {
    const opensshPath = join(tmp, 'id_rsa');
    writeFileSync(opensshPath, opensshRsa, { mode: 0o600 });
    const bodyLines = opensshRsa.split('\n').slice(1, -2);
    expectProblem(
      realEnv({ AMAZON_PAY_PRIVATE_KEY_FILE: opensshPath }),
      'AMAZON_PAY_PRIVATE_KEY_FILE',
      /ssh-keygen -p -m PEM/,
      bodyLines,
    );
    expectProblem(
      realEnv({
        AMAZON_PAY_PRIVATE_KEY_FILE: undefined,
        AMAZON_PAY_PRIVATE_KEY: opensshRsa.replace(/\n/g, '\\n'),
      }),
      'AMAZON_PAY_PRIVATE_KEY',
      /OpenSSH/,
      bodyLines,
    );
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const encrypted = rsa.export({
      type: 'pkcs8',
      format: 'pem',
      cipher: 'aes-256-cbc',
      passphrase: 'pw',
    }) as string;
    expectProblem(
      realEnv({ AMAZON_PAY_PRIVATE_KEY_FILE: undefined, AMAZON_PAY_PRIVATE_KEY: encrypted }),
      'AMAZON_PAY_PRIVATE_KEY',
      /openssl pkey/,
      encrypted.split('\n').slice(1, -2),
    );
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    }) as string;
    expectProblem(
      realEnv({ AMAZON_PAY_PRIVATE_KEY_FILE: undefined, AMAZON_PAY_PRIVATE_KEY: ec }),
      'AMAZON_PAY_PRIVATE_KEY',
      /RSA/,
      ec.split('\n').slice(1, -2),
    );
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({
      type: 'pkcs1',
      format: 'pem',
    }) as string;
    expectProblem(
      realEnv({ AMAZON_PAY_PRIVATE_KEY_FILE: undefined, AMAZON_PAY_PRIVATE_KEY: small }),
      'AMAZON_PAY_PRIVATE_KEY',
      /1024.*2048/,
    );
    const publicPem = readFileSync(fixture('amazon-test-key-public.pem'), 'utf8');
    expectProblem(
      realEnv({ AMAZON_PAY_PRIVATE_KEY_FILE: undefined, AMAZON_PAY_PRIVATE_KEY: publicPem }),
      'AMAZON_PAY_PRIVATE_KEY',
      /public key/,
    );
    expectProblem(
      realEnv({ AMAZON_PAY_PRIVATE_KEY_FILE: undefined, AMAZON_PAY_PRIVATE_KEY: 'hunter2-not-a-key' }),
      'AMAZON_PAY_PRIVATE_KEY',
      /neither PEM/,
      ['hunter2'],
    );
    expectProblem(
      realEnv({ AMAZON_PAY_PRIVATE_KEY_FILE: undefined, AMAZON_PAY_PRIVATE_KEY: './keys/amazon.pem' }),
      'AMAZON_PAY_PRIVATE_KEY',
      /AMAZON_PAY_PRIVATE_KEY_FILE/,
    );
    expectProblem(
      realEnv({ AMAZON_PAY_PRIVATE_KEY_FILE: join(tmp, 'missing.pem') }),
      'AMAZON_PAY_PRIVATE_KEY_FILE',
      /no such file/,
    );
  });

  it('warns when the key file is readable by other users', () => {
    const loose = join(tmp, 'loose.pem');
    writeFileSync(loose, amazonPkcs1);
    chmodSync(loose, 0o644);
    const config = loadConfig(realEnv({ AMAZON_PAY_PRIVATE_KEY_FILE: loose }));
    if (process.platform !== 'win32') expect(config.warnings.join('\n')).toMatch(/loose\.pem.*chmod 600/);
  });
});

describe('production rules', () => {
  it('requires COOKIE_SECRET', () => {
    expectProblem(
      realEnv({ NODE_ENV: 'production', COOKIE_SECRET: undefined }),
      'COOKIE_SECRET',
      /required.*production/,
    );
    expectProblem(realEnv({ NODE_ENV: 'production', COOKIE_SECRET: '' }), 'COOKIE_SECRET', /required/);
  });

  it('refuses the simulator, explicit or implied by a missing key id', () => {
    expectProblem(
      realEnv({ NODE_ENV: 'production', AMAZON_PAY_SIMULATOR: 'true' }),
      'AMAZON_PAY_SIMULATOR',
      /refused/,
    );
    const problems = problemsOf({ NODE_ENV: 'production', COOKIE_SECRET, DATA_DIR: join(tmp, 'prod-data') });
    expect(problems.find((p) => p.startsWith('AMAZON_PAY_PUBLIC_KEY_ID:'))).toMatch(/production/);
    expect(problems.some((p) => p.startsWith('AMAZON_PAY_PRIVATE_KEY:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('AMAZON_PAY_MERCHANT_ID:'))).toBe(true);
  });

  it('loads a complete production configuration, warning about an open /metrics', () => {
    const config = loadConfig(realEnv({ NODE_ENV: 'production', PUBLIC_BASE_URL: 'https://shop.example' }));
    expect(config.isProduction).toBe(true);
    expect(config.simulator).toBe(false);
    expect(config.warnings.join('\n')).toContain('METRICS_TOKEN');
    const quiet = loadConfig(
      realEnv({
        NODE_ENV: 'production',
        PUBLIC_BASE_URL: 'https://shop.example',
        METRICS_TOKEN: 'metrics-token-0123456789',
      }),
    );
    expect(quiet.warnings).toEqual([]);
  });
});

describe('CHECKOUT_START_URL allows only our own origin', () => {
  const base = { PUBLIC_BASE_URL: 'https://shop.example' };
  it.each([
    ['/checkout'],
    ['/shop/cart?step=pay'],
    ['https://shop.example/checkout'],
    ['https://shop.example:443/checkout?x=1'],
  ])('accepts %s', (value) => {
    expect(loadConfig(simulatorEnv({ ...base, CHECKOUT_START_URL: value })).checkoutStartUrl).toBe(value);
  });

  it.each([
    ['//evil.com'],
    ['///evil.com'],
    ['https://evil.com/x'],
    ['/\\evil.com'],
    ['\\\\evil.com'],
    ['javascript:alert(1)'],
    ['data:text/html,hi'],
    ['/\t/evil.com'],
    ['/%2F%2Fevil.com'],
    ['https://shop.example.evil.com/'],
    ['http://shop.example/checkout'],
    ['https://user:pw@shop.example/'],
    ['checkout'],
    ['/checkout#top'],
  ])('refuses %s', (value) => {
    expectProblem(simulatorEnv({ ...base, CHECKOUT_START_URL: value }), 'CHECKOUT_START_URL');
  });
});

describe('value rules', () => {
  it.each([
    ['PUBLIC_BASE_URL', 'ftp://shop.example'],
    ['PUBLIC_BASE_URL', 'shop.example'],
    ['PUBLIC_BASE_URL', 'https://shop.example/?a=1'],
    ['PUBLIC_BASE_URL', 'https://user:pw@shop.example'],
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['LOG_LEVEL', 'verbose'],
    ['NODE_ENV', 'prod'],
    ['RATE_LIMIT_MAX', '-1'],
    ['RATE_LIMIT_MAX', '1.5'],
    ['PII_RETENTION_DAYS', '0'],
    ['AMAZON_PAY_TIMEOUT_MS', '10'],
    ['AMAZON_PAY_SIMULATOR', 'maybe'],
    ['AMAZON_PAY_PUBLIC_KEY_ID', 'SANDBOX-ABC, Signature=x'],
    ['AMAZON_PAY_MERCHANT_ID', 'A2B C'],
    ['TRUST_PROXY', 'everyone'],
    ['TRUST_PROXY', '10.0.0.0/99'],
    ['DATABASE_URL', 'mysql://localhost/db'],
    ['DATABASE_URL', 'sqlite:'],
    ['REDIS_URL', 'http://localhost:6379'],
    ['DATABASE_POOL_MAX', '0'],
    ['SQLITE_SYNCHRONOUS', 'OFF'],
  ])('%s=%s is refused with a line naming it', (name, value) => {
    expectProblem(simulatorEnv({ [name]: value }), name);
  });

  it('AMAZON_PAY_BUDGET_MS must cover AMAZON_PAY_TIMEOUT_MS', () => {
    expectProblem(
      simulatorEnv({ AMAZON_PAY_TIMEOUT_MS: '9000', AMAZON_PAY_BUDGET_MS: '5000' }),
      'AMAZON_PAY_BUDGET_MS',
      /AMAZON_PAY_TIMEOUT_MS/,
    );
  });

  it('parses databases, booleans, numbers and TRUST_PROXY', () => {
    expect(loadConfig(simulatorEnv({ DATABASE_URL: 'sqlite::memory:' })).database).toEqual({
      kind: 'sqlite',
      path: ':memory:',
    });
    expect(loadConfig(simulatorEnv({ DATABASE_URL: 'sqlite:/var/lib/app/c.db' })).database).toEqual({
      kind: 'sqlite',
      path: '/var/lib/app/c.db',
    });
    const pg = 'postgresql://app:pw@db.internal:5432/checkout';
    expect(loadConfig(simulatorEnv({ DATABASE_URL: pg })).database).toEqual({ kind: 'postgres', url: pg });
    expect(loadConfig(simulatorEnv({ RATE_LIMIT_MAX: '0' })).rateLimitMax).toBe(0);
    expect(loadConfig(simulatorEnv({})).databasePoolMax).toBe(10);
    expect(loadConfig(simulatorEnv({ DATABASE_POOL_MAX: '25' })).databasePoolMax).toBe(25);
    expect(loadConfig(simulatorEnv({})).sqliteSynchronous).toBe('NORMAL');
    expect(loadConfig(simulatorEnv({ SQLITE_SYNCHRONOUS: 'FULL' })).sqliteSynchronous).toBe('FULL');
    expect(loadConfig(simulatorEnv({ AMAZON_PAY_SIMULATOR: 'TRUE' })).simulator).toBe(true);
    expect(loadConfig(simulatorEnv({ TRUST_PROXY: 'true' })).trustProxy).toBe(true);
    expect(loadConfig(simulatorEnv({ TRUST_PROXY: '2' })).trustProxy).toBe(2);
    expect(loadConfig(simulatorEnv({ TRUST_PROXY: '10.0.0.0/8, 127.0.0.1,::1' })).trustProxy).toEqual([
      '10.0.0.0/8',
      '127.0.0.1',
      '::1',
    ]);
    expect(loadConfig(simulatorEnv({ REDIS_URL: 'rediss://cache:6380' })).redisUrl).toBe(
      'rediss://cache:6380',
    );
    expect(loadConfig(simulatorEnv({ LOG_LEVEL: 'debug', HOST: '0.0.0.0' }))).toMatchObject({
      logLevel: 'debug',
      host: '0.0.0.0',
    });
  });

  it('an empty value counts as unset', () => {
    const config = loadConfig(simulatorEnv({ PORT: '', LOG_LEVEL: ' ', AMAZON_PAY_PUBLIC_KEY_ID: '' }));
    expect(config.port).toBe(3000);
    expect(config.logLevel).toBe('info');
    expect(config.simulator).toBe(true);
  });

  it('reports every problem at once, one line each', () => {
    const problems = problemsOf(
      simulatorEnv({
        PORT: 'x',
        LOG_LEVEL: 'loud',
        CHECKOUT_START_URL: '//evil.com',
        PII_RETENTION_DAYS: '-3',
      }),
    );
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual([
      'CHECKOUT_START_URL',
      'LOG_LEVEL',
      'PII_RETENTION_DAYS',
      'PORT',
    ]);
    for (const p of problems) expect(p).not.toContain('\n');
  });
});

describe('secrets never appear in errors, warnings or the printed config', () => {
  const canary = 'Canary-S3cret-Value';
  it.each([
    ['COOKIE_SECRET', canary],
    ['DATABASE_URL', `mysql://app:${canary}@db/checkout`],
    ['DATABASE_URL', `postgres://app:${canary}@`],
    ['REDIS_URL', `http://user:${canary}@cache:6379`],
    ['AMAZON_PAY_PRIVATE_KEY', canary],
  ])('an invalid %s', (name, value) => {
    problemsOf(
      realEnv({
        [name]: value,
        AMAZON_PAY_PRIVATE_KEY_FILE: name === 'AMAZON_PAY_PRIVATE_KEY' ? undefined : keyFile,
      }),
      [canary],
    );
  });

  it('a short METRICS_TOKEN is warned about without being shown', () => {
    const config = loadConfig(simulatorEnv({ METRICS_TOKEN: 'Canary-S3c' }));
    expect(config.metricsToken).toBe('Canary-S3c');
    expect(config.warnings.join('\n')).toContain('METRICS_TOKEN');
    expect(config.warnings.join('\n')).not.toContain('Canary-S3c');
  });

  it('JSON.stringify and util.inspect of the config redact secrets and key material', () => {
    const config = loadConfig(
      realEnv({
        METRICS_TOKEN: `${canary}-metrics`,
        DATABASE_URL: `postgres://app:${canary}@db/checkout`,
        REDIS_URL: `redis://:${canary}@cache:6379`,
      }),
    );
    const pemLine = amazonPkcs1.split('\n')[5]!;
    for (const text of [JSON.stringify(config), inspect(config, { depth: 5 })]) {
      expect(text).not.toContain(canary);
      expect(text).not.toContain(COOKIE_SECRET);
      expect(text).not.toContain(pemLine);
      expect(text).toContain('SANDBOX-AHEGSJCM3GXNK7EY2VWPZ2NA');
    }
    expect(config.databaseUrl).toContain(canary);
  });
});

describe('unknown AMAZON_PAY_* variables', () => {
  it('are warned about, with a suggestion when one is close', () => {
    const config = loadConfig(
      simulatorEnv({
        AMAZON_PAY_PRIVATEKEY: 'x',
        AMAZON_PAY_SELLER_ID: 'A1',
        AMAZON_PAY_SIMULATOR_PORT: '3005',
        AMAZON_PAY_REGON: 'eu',
        AMAZON_PAY_SOMETHING_ELSE_ENTIRELY: '1',
        UNRELATED_VARIABLE: 'x',
      }),
    );
    const warnings = config.warnings.join('\n');
    expect(warnings).toMatch(/AMAZON_PAY_PRIVATEKEY .*did you mean AMAZON_PAY_PRIVATE_KEY\?/);
    expect(warnings).toMatch(/AMAZON_PAY_SELLER_ID .*did you mean AMAZON_PAY_MERCHANT_ID\?/);
    expect(warnings).toMatch(/AMAZON_PAY_SIMULATOR_PORT .*did you mean SIMULATOR_PORT\?/);
    expect(warnings).toMatch(/AMAZON_PAY_REGON .*did you mean AMAZON_PAY_REGION\?/);
    expect(warnings).toMatch(
      /AMAZON_PAY_SOMETHING_ELSE_ENTIRELY is not a setting of this service and is ignored$/m,
    );
    expect(warnings).not.toContain('UNRELATED_VARIABLE');
  });

  it('travel with a ConfigError, where they often explain the problem', () => {
    const error = configError(
      realEnv({ AMAZON_PAY_PRIVATE_KEY_FILE: undefined, AMAZON_PAY_PRIVATE_KEY_FIEL: keyFile }),
    );
    expect(error.problems.join('\n')).toContain('AMAZON_PAY_PRIVATE_KEY: required');
    expect(formatConfigError(error)).toMatch(
      /Warnings:\n.*AMAZON_PAY_PRIVATE_KEY_FIEL.*did you mean AMAZON_PAY_PRIVATE_KEY_FILE\?/,
    );
  });
});

describe('documentation', () => {
  it('every variable is described in the schema', () => {
    for (const name of ENV_VARIABLES) expect(EnvSchema.shape[name].description, name).toBeTruthy();
  });

  it('.env.example lists exactly the variables of the schema', () => {
    const example = readFileSync(new URL('../.env.example', import.meta.url), 'utf8');
    const listed = [...example.matchAll(/^#? ?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]);
    expect([...new Set(listed)].sort()).toEqual([...ENV_VARIABLES].sort());
  });
});
