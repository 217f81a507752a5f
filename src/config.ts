// The environment, validated once at startup into a typed, frozen configuration (DESIGN §4); nothing else reads process.env.
import { createPublicKey, KeyObject, randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { inspect } from 'node:util';
import { z } from 'zod';
import { environmentOfKeyId, normalizeRegion, type Region } from './amazon-pay/endpoints.ts';
import {
  generateDevKeyPair,
  KeyLoadError,
  loadPrivateKey,
  readPrivateKeyFile,
  selfTestKey,
} from './amazon-pay/keys.ts';
import { DEFAULT_ALGORITHM, SIGNING_ALGORITHMS, type SigningAlgorithm } from './amazon-pay/signing.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const NODE_ENVS = ['development', 'test', 'production'] as const;
export type NodeEnv = (typeof NODE_ENVS)[number];

export const SIMULATOR_PUBLIC_KEY_ID = 'SANDBOX-SIMULATOR';
export const SIMULATOR_MERCHANT_ID = 'SIMULATORMERCHANT';
export const SIMULATOR_STORE_ID = 'amzn1.application-oa2-client.simulator';
export const MIN_COOKIE_SECRET_LENGTH = 32;
export const DEFAULT_SQLITE_FILE = 'checkout.db';

function int(defaultValue: number, min: number, max: number) {
  return z
    .string()
    .regex(/^\d+$/, { error: 'must be a whole number' })
    .transform(Number)
    .pipe(
      z
        .number()
        .int()
        .min(min, { error: `must be at least ${min}` })
        .max(max, { error: `must be at most ${max}` }),
    )
    .default(defaultValue);
}

function bool() {
  return z.stringbool({ error: 'must be true or false (also accepted: 1/0, yes/no, on/off)' });
}

function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

/** An http(s) URL without credentials, plus a further rule; one problem line at most. */
function httpUrl(what: string, extra: (url: URL, value: string) => string | undefined) {
  return z.string().superRefine((value, ctx) => {
    const url = parseUrl(value);
    const problem =
      !url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password
        ? `must be an absolute http(s) URL (${what}), without credentials`
        : extra(url, value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
}

export type DatabaseConfig = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

// The value of DATABASE_URL may carry a password: messages here describe the expected shape only.
function parseDatabaseUrl(value: string): DatabaseConfig | undefined {
  if (value === 'sqlite::memory:') return { kind: 'sqlite', path: ':memory:' };
  if (value.startsWith('sqlite:')) {
    const path = value.slice('sqlite:'.length).replace(/^\/\/(?=\/|[^/])/, '');
    return path === '' ? undefined : { kind: 'sqlite', path };
  }
  if (/^postgres(ql)?:\/\//.test(value)) {
    try {
      const url = new URL(value);
      return url.hostname || url.searchParams.has('host') ? { kind: 'postgres', url: value } : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export type TrustProxy = boolean | number | string[];

function parseTrustProxy(value: string): TrustProxy | undefined {
  const lower = value.toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  if (/^\d+$/.test(value)) return Number(value);
  const entries = value.split(',').map((s) => s.trim());
  for (const entry of entries) {
    const [address, prefix, extra] = entry.split('/');
    if (extra !== undefined || !address) return undefined;
    const family = isIP(address);
    if (family === 0 && !['loopback', 'linklocal', 'uniquelocal'].includes(address)) return undefined;
    if (prefix !== undefined) {
      if (family === 0 || !/^\d+$/.test(prefix) || Number(prefix) > (family === 4 ? 32 : 128))
        return undefined;
    }
  }
  return entries;
}

/**
 * Every environment variable the service reads, with its rule and documentation. Values arrive as
 * strings; an empty value counts as unset (env files and compose files produce them easily).
 */
export const EnvSchema = z.object({
  NODE_ENV: z
    .enum(NODE_ENVS, { error: `must be one of ${NODE_ENVS.join(', ')}` })
    .default('development')
    .describe('Runtime mode. `production` enforces COOKIE_SECRET and refuses the simulator.'),
  PORT: int(3000, 0, 65535).describe('TCP port of the HTTP server (0 picks a free port).'),
  HOST: z.string().default('127.0.0.1').describe('Listen address; the Docker image sets 0.0.0.0.'),
  PUBLIC_BASE_URL: httpUrl('origin plus optional path', (_url, value) =>
    value.includes('?') || value.includes('#') ? 'must not have a query string or fragment' : undefined,
  )
    .optional()
    .describe(
      'External URL of this service (origin plus optional path); signInReturnUrl and signInCancelUrl are built from it. Default http://localhost:<PORT>.',
    ),
  LOG_LEVEL: z
    .enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` })
    .default('info')
    .describe('pino log level.'),
  DATABASE_URL: z
    .string()
    .refine((value) => parseDatabaseUrl(value) !== undefined, {
      error: 'must be sqlite:<path>, sqlite::memory: or a postgres:// / postgresql:// URL with a host',
    })
    .optional()
    .describe(
      'Store: `sqlite:<path>` (embedded, one instance), `sqlite::memory:`, or `postgres://…` (several instances). Default sqlite:<DATA_DIR>/checkout.db.',
    ),
  COOKIE_SECRET: z
    .string()
    .min(MIN_COOKIE_SECRET_LENGTH, { error: `must be at least ${MIN_COOKIE_SECRET_LENGTH} characters long` })
    .optional()
    .describe(
      'Secret that signs the browser binding cookie, at least 32 characters. Required in production; otherwise a random per-process secret is used (bindings do not survive a restart).',
    ),
  CHECKOUT_START_URL: z
    .string()
    .default('/checkout')
    .describe(
      "Where failed returns are sent (with ?error=<code>): a path starting with a single `/`, or an absolute URL on PUBLIC_BASE_URL's origin. Nothing else.",
    ),
  AMAZON_PAY_PUBLIC_KEY_ID: z
    .string()
    .regex(/^[A-Za-z0-9_-]{4,128}$/, {
      error:
        'must be the public key id from Seller Central (letters, digits and `-`, e.g. SANDBOX-AXXXXXXXXXXXXXXXXXXXXXXX)',
    })
    .optional()
    .describe(
      'Public key id from Seller Central. `SANDBOX-…`/`LIVE-…` ids imply the environment. Unset: the simulator runs.',
    ),
  AMAZON_PAY_PRIVATE_KEY: z
    .string()
    .optional()
    .describe(
      'The RSA private key as PEM text (PKCS#1 or PKCS#8); literal \\n escapes, a PEM flattened to one line and base64-encoded PEM are repaired. Exclusive with AMAZON_PAY_PRIVATE_KEY_FILE.',
    ),
  AMAZON_PAY_PRIVATE_KEY_FILE: z
    .string()
    .optional()
    .describe(
      'Path of the RSA private key file (PEM or DER, PKCS#1 or PKCS#8). Exclusive with AMAZON_PAY_PRIVATE_KEY.',
    ),
  AMAZON_PAY_REGION: z
    .string()
    .transform((value, ctx) => {
      const region = normalizeRegion(value);
      if (region === undefined) {
        ctx.addIssue({ code: 'custom', message: 'must be one of na, eu, jp (aliases: us, uk, de)' });
        return z.NEVER;
      }
      return region;
    })
    .default('na')
    .describe('Amazon Pay region: na, eu, jp (aliases us → na, uk/de → eu).'),
  AMAZON_PAY_SANDBOX: bool()
    .optional()
    .describe(
      'Sandbox or live, for legacy key ids only (default true). A contradiction with a SANDBOX-/LIVE- key id is a startup error.',
    ),
  AMAZON_PAY_MERCHANT_ID: z
    .string()
    .regex(/^[A-Za-z0-9]{1,64}$/, {
      error: 'must be the merchant id from Seller Central (letters and digits)',
    })
    .optional()
    .describe(`Merchant id for the button configuration. Simulator default: ${SIMULATOR_MERCHANT_ID}.`),
  AMAZON_PAY_STORE_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,128}$/, {
      error: 'must be the store id (client id) from Seller Central, e.g. amzn1.application-oa2-client.…',
    })
    .optional()
    .describe(`Store id (client id) for the button payload. Simulator default: ${SIMULATOR_STORE_ID}.`),
  AMAZON_PAY_API_BASE_URL: httpUrl('an origin such as https://proxy.example:8443', (url, value) =>
    url.pathname !== '/' || value.includes('?') || value.includes('#')
      ? 'must be an origin only (scheme, host, port); API paths are built as usual'
      : undefined,
  )
    .optional()
    .describe("Override of the API origin (a proxy, a simulator elsewhere). Default: the region's host."),
  AMAZON_PAY_SIMULATOR: bool()
    .optional()
    .describe(
      'Run the built-in Amazon Pay simulator and point the client at it. Default: true when AMAZON_PAY_PUBLIC_KEY_ID is unset. Refused in production.',
    ),
  AMAZON_PAY_ALGORITHM: z
    .enum(Object.keys(SIGNING_ALGORITHMS) as [SigningAlgorithm, ...SigningAlgorithm[]], {
      error: `must be one of ${Object.keys(SIGNING_ALGORITHMS).join(', ')}`,
    })
    .default(DEFAULT_ALGORITHM)
    .describe('Signature algorithm: AMZN-PAY-RSASSA-PSS-V2 (default) or the older AMZN-PAY-RSASSA-PSS.'),
  AMAZON_PAY_TIMEOUT_MS: int(8000, 100, 120_000).describe(
    'Deadline of one HTTP attempt to Amazon Pay, in ms.',
  ),
  AMAZON_PAY_BUDGET_MS: int(20_000, 100, 600_000).describe(
    'Deadline of one Amazon Pay call including all retries, in ms (at least AMAZON_PAY_TIMEOUT_MS).',
  ),
  RETURN_WAIT_MS: int(10_000, 0, 120_000).describe(
    'How long the buyer’s return waits for an undecided completion before showing the "confirming" page, in ms.',
  ),
  RECONCILE_INTERVAL_MS: int(15_000, 100, 3_600_000).describe(
    'How often the reconciler looks for pending and unknown completions, in ms.',
  ),
  SHUTDOWN_DRAIN_MS: int(25_000, 0, 600_000).describe(
    'On SIGTERM, how long in-flight completions may take to finish and commit before the process exits, in ms.',
  ),
  SIMULATOR_PORT: int(3001, 0, 65535).describe('Port of the built-in simulator (0 picks a free port).'),
  SIMULATOR_LATENCY_MS: int(0, 0, 120_000).describe(
    'Delay the built-in simulator adds before each API answer, in ms (demos of the confirming page, shutdown tests).',
  ),
  DATA_DIR: z
    .string()
    .default('data')
    .describe("Directory for local state: the simulator's generated key pair (and the default SQLite file)."),
  METRICS_TOKEN: z
    .string()
    .optional()
    .describe('Bearer token required by GET /metrics. Unset: /metrics is open.'),
  RATE_LIMIT_MAX: int(120, 0, 1_000_000).describe(
    'Requests per minute per client on the return and JSON routes; 0 turns limiting off.',
  ),
  TRUST_PROXY: z
    .string()
    .refine((value) => parseTrustProxy(value) !== undefined, {
      error: 'must be true, false, a hop count, or a comma-separated list of IP addresses/CIDR ranges',
    })
    .optional()
    .describe(
      'Proxies whose X-Forwarded-For is believed (Fastify trustProxy: true, a hop count, or IPs/CIDRs). Unset: none.',
    ),
  REDIS_URL: z
    .string()
    .refine(
      (value) => {
        try {
          const url = new URL(value);
          return (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== '';
        } catch {
          return false;
        }
      },
      { error: 'must be a redis:// or rediss:// URL' },
    )
    .optional()
    .describe('Redis for rate-limit counters shared by several instances. Unset: in-process counters.'),
  AMAZON_PAY_MAX_CONCURRENT_CALLS: int(1024, 1, 65_536).describe(
    "Amazon Pay calls in flight per process (the bulkhead and the connection pool); as many more may queue. By Little's law 1,024 calls at 200 ms carry about 5,000 completions/s.",
  ),
  DATABASE_POOL_MAX: int(10, 1, 500).describe(
    'PostgreSQL only: connections per process. Keep instances × this below the server max_connections.',
  ),
  SQLITE_SYNCHRONOUS: z
    .enum(['NORMAL', 'FULL'])
    .default('NORMAL')
    .describe(
      'SQLite only: NORMAL (WAL; survives a process crash, may lose the last commits on power loss) or FULL (fsync per commit, about half the throughput).',
    ),
  PII_RETENTION_DAYS: int(30, 1, 3650).describe(
    'Buyer details older than this many days are purged; ids and chargePermissionId stay.',
  ),
});

export type Env = z.output<typeof EnvSchema>;
export const ENV_VARIABLES = Object.keys(EnvSchema.shape) as Array<keyof Env>;

export interface Config {
  readonly nodeEnv: NodeEnv;
  readonly isProduction: boolean;
  readonly port: number;
  readonly host: string;
  /** Origin plus optional path, without a trailing slash. */
  readonly publicBaseUrl: string;
  readonly logLevel: LogLevel;
  readonly databaseUrl: string;
  readonly database: Readonly<DatabaseConfig>;
  readonly cookieSecret: string;
  /** True when no COOKIE_SECRET was set and a random one was made for this process. */
  readonly cookieSecretGenerated: boolean;
  /** A path starting with one `/`, or an absolute URL on publicBaseUrl's origin. */
  readonly checkoutStartUrl: string;
  readonly simulator: boolean;
  readonly simulatorPort: number;
  readonly simulatorLatencyMs: number;
  readonly publicKeyId: string;
  readonly privateKey: KeyObject;
  /** Derived from the private key; what the simulator verifies with. */
  readonly publicKey: KeyObject;
  /** Where the key came from, for logs: a variable name, a file path, or the generated simulator key. */
  readonly privateKeySource: string;
  readonly algorithm: SigningAlgorithm;
  readonly region: Region;
  readonly sandbox: boolean;
  readonly merchantId: string;
  readonly storeId: string;
  /** Override of the API origin; undefined means the region's host (or, with the simulator, its address). */
  readonly apiBaseUrl: string | undefined;
  readonly amazonPayTimeoutMs: number;
  readonly amazonPayBudgetMs: number;
  readonly returnWaitMs: number;
  readonly reconcileIntervalMs: number;
  readonly shutdownDrainMs: number;
  readonly dataDir: string;
  readonly metricsToken: string | undefined;
  readonly rateLimitMax: number;
  readonly databasePoolMax: number;
  readonly amazonPayMaxConcurrentCalls: number;
  readonly sqliteSynchronous: 'NORMAL' | 'FULL';
  readonly trustProxy: TrustProxy | undefined;
  readonly redisUrl: string | undefined;
  readonly piiRetentionDays: number;
  /** Startup warnings to log once (never containing secret values). */
  readonly warnings: readonly string[];
}

export class ConfigError extends Error {
  readonly problems: readonly string[];
  /** Warnings gathered on the way; a "did you mean" often explains a problem. */
  readonly warnings: readonly string[];

  constructor(problems: readonly string[], warnings: readonly string[] = []) {
    super(
      `Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
    this.name = 'ConfigError';
    this.problems = Object.freeze([...problems]);
    this.warnings = Object.freeze([...warnings]);
  }
}

/** One line per problem (then per warning), for stderr before the logger exists. */
export function formatConfigError(error: unknown): string {
  if (!(error instanceof ConfigError)) {
    return `Invalid configuration: ${error instanceof Error ? error.message : String(error)}`;
  }
  const lines = [error.message];
  if (error.warnings.length > 0) lines.push('Warnings:', ...error.warnings.map((w) => `  - ${w}`));
  return lines.join('\n');
}

// Whatever a checkout-start value is, the browser must end up on our own origin. Tabs and newlines are
// stripped by browsers (`/\t/evil.com` becomes `//evil.com`) and a backslash counts as a slash.
function checkoutStartProblem(value: string, publicBaseUrl: string): string | undefined {
  const expected =
    "must be a path starting with a single '/' (like /checkout) or an absolute URL on PUBLIC_BASE_URL's origin";
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused
  if (/[\s\u0000-\u001f\u007f\\]/.test(value))
    return `${expected}; whitespace, control characters and backslashes are not allowed`;
  if (value.includes('#')) return `${expected}, without a #fragment (?error=<code> is appended)`;
  const base = new URL(publicBaseUrl);
  if (value.startsWith('/')) {
    if (value.startsWith('//')) return `${expected}; '//' starts a link to another host`;
    let decoded: string;
    try {
      decoded = decodeURIComponent(value);
    } catch {
      return `${expected}; it has a broken %-escape`;
    }
    if (decoded.startsWith('//') || decoded.includes('\\'))
      return `${expected}; encoded slashes at the start are not allowed`;
    return new URL(value, base).origin === base.origin ? undefined : expected;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return expected;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `${expected}; only http(s) URLs`;
  if (url.username || url.password) return `${expected}; without credentials`;
  if (url.origin !== base.origin)
    return `${expected} (${base.origin}); other hosts are refused to prevent open redirects`;
  return undefined;
}

const VARIABLE_ALIASES: Record<string, string> = {
  AMAZON_PAY_SELLER_ID: 'AMAZON_PAY_MERCHANT_ID',
  AMAZON_PAY_CLIENT_ID: 'AMAZON_PAY_STORE_ID',
  AMAZON_PAY_PRIVATE_KEY_PATH: 'AMAZON_PAY_PRIVATE_KEY_FILE',
  AMAZON_PAY_KEY_ID: 'AMAZON_PAY_PUBLIC_KEY_ID',
  AMAZON_PAY_ENV: 'AMAZON_PAY_SANDBOX',
  AMAZON_PAY_ENVIRONMENT: 'AMAZON_PAY_SANDBOX',
  AMAZON_PAY_SIGNATURE_ALGORITHM: 'AMAZON_PAY_ALGORITHM',
  AMAZON_PAY_TIMEOUT: 'AMAZON_PAY_TIMEOUT_MS',
};

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
    }
    previous = current;
  }
  return previous[b.length]!;
}

function suggestVariable(name: string): string | undefined {
  if (VARIABLE_ALIASES[name]) return VARIABLE_ALIASES[name];
  let best: { name: string; distance: number } | undefined;
  for (const known of ENV_VARIABLES) {
    const distance = editDistance(name, known);
    if (!best || distance < best.distance) best = { name: known, distance };
  }
  if (best && best.distance <= Math.max(2, Math.floor(name.length / 6))) return best.name;
  // e.g. AMAZON_PAY_SIMULATOR_PORT → SIMULATOR_PORT
  const stripped = name.replace(/^AMAZON_PAY_/, '');
  return ENV_VARIABLES.find((known) => known === stripped);
}

function unknownVariableWarnings(env: Record<string, string | undefined>): string[] {
  const known = new Set<string>(ENV_VARIABLES);
  const warnings: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('AMAZON_PAY_') || known.has(name)) continue;
    const suggestion = suggestVariable(name);
    warnings.push(
      `${name} is not a setting of this service and is ignored${suggestion ? `; did you mean ${suggestion}?` : ''}`,
    );
  }
  return warnings;
}

function describeKeyError(variable: string, err: unknown): string {
  if (err instanceof KeyLoadError) {
    if (err.code === 'looks-like-path' && variable === 'AMAZON_PAY_PRIVATE_KEY') {
      return `${variable}: looks like a file path, not a key; set AMAZON_PAY_PRIVATE_KEY_FILE to the path instead`;
    }
    return `${variable}: ${err.message}`;
  }
  return `${variable}: the private key could not be loaded`;
}

function isLocalHost(hostname: string): boolean {
  return (
    hostname === 'localhost' ||
    hostname === '127.0.0.1' ||
    hostname === '[::1]' ||
    hostname.endsWith('.localhost')
  );
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    // KeyObjects are immutable already and keep internal state that must stay untouched.
    if (value instanceof KeyObject) return value;
    for (const key of Reflect.ownKeys(value)) deepFreeze((value as Record<PropertyKey, unknown>)[key]);
    Object.freeze(value);
  }
  return value;
}

/** What may be logged of a config: secrets and key material replaced, URLs without passwords. */
export function redactConfig(config: Config): Record<string, unknown> {
  const stripPassword = (value: string | undefined) => {
    if (value === undefined) return undefined;
    try {
      const url = new URL(value);
      if (url.password) url.password = '***';
      return url.toString();
    } catch {
      return value;
    }
  };
  return {
    ...config,
    cookieSecret: '[redacted]',
    metricsToken: config.metricsToken === undefined ? undefined : '[redacted]',
    privateKey: '[redacted]',
    publicKey: '[public key]',
    databaseUrl: stripPassword(config.databaseUrl),
    database:
      config.database.kind === 'postgres'
        ? { kind: 'postgres', url: stripPassword(config.database.url) }
        : config.database,
    redisUrl: stripPassword(config.redisUrl),
  };
}

/**
 * Validates the environment and loads the signing key (a key that cannot sign is a startup error).
 * Throws ConfigError with one line per problem, each naming its variable and never a secret value.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const raw: Record<string, string | undefined> = {};
  for (const name of ENV_VARIABLES) {
    const value = env[name];
    // Keys keep their inner whitespace (a PEM's newlines); everything else is trimmed.
    const cleaned = name === 'AMAZON_PAY_PRIVATE_KEY' ? value : value?.trim();
    raw[name] = cleaned === undefined || cleaned.trim() === '' ? undefined : cleaned;
  }

  const problems: string[] = [];
  const warnings = unknownVariableWarnings(env);
  const parsed = EnvSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues)
      problems.push(`${String(issue.path[0] ?? 'environment')}: ${issue.message}`);
  }
  // Per-variable values let the rules between variables run even while another variable is invalid, so
  // the operator sees every problem in one start. `has` means "valid (possibly unset)".
  const v: Partial<Env> = {};
  const valid = new Set<keyof Env>();
  for (const name of ENV_VARIABLES) {
    const one = EnvSchema.shape[name].safeParse(raw[name]);
    if (one.success) {
      valid.add(name);
      (v as Record<string, unknown>)[name] = one.data;
    }
  }
  const has = (name: keyof Env) => valid.has(name);

  const isProduction = v.NODE_ENV === 'production';
  const port = v.PORT ?? 3000;
  const publicBaseUrl = (v.PUBLIC_BASE_URL ?? `http://localhost:${port}`).replace(/\/+$/, '');
  if (isProduction && raw.PUBLIC_BASE_URL === undefined) {
    warnings.push('PUBLIC_BASE_URL is not set in production; return URLs point at http://localhost');
  } else if (isProduction && has('PUBLIC_BASE_URL') && !isLocalHost(new URL(publicBaseUrl).hostname)) {
    if (new URL(publicBaseUrl).protocol !== 'https:') {
      warnings.push(
        'PUBLIC_BASE_URL is not https in production; browsers send the binding cookie over plain http',
      );
    }
  }

  // Cookie secret.
  let cookieSecret = v.COOKIE_SECRET;
  let cookieSecretGenerated = false;
  if (cookieSecret === undefined && has('COOKIE_SECRET')) {
    if (isProduction) {
      problems.push(
        `COOKIE_SECRET: required when NODE_ENV=production (at least ${MIN_COOKIE_SECRET_LENGTH} characters; e.g. \`openssl rand -base64 48\`)`,
      );
    } else {
      cookieSecret = randomBytes(32).toString('base64url');
      cookieSecretGenerated = true;
      warnings.push(
        'COOKIE_SECRET is not set: using a random per-process secret, so browser bindings do not survive a restart and differ between instances',
      );
    }
  }

  if (has('CHECKOUT_START_URL') && has('PUBLIC_BASE_URL')) {
    const problem = checkoutStartProblem(v.CHECKOUT_START_URL!, publicBaseUrl);
    if (problem) problems.push(`CHECKOUT_START_URL: ${problem}`);
  }

  // Amazon Pay environment.
  const keyId = v.AMAZON_PAY_PUBLIC_KEY_ID;
  const keyIdSet = raw.AMAZON_PAY_PUBLIC_KEY_ID !== undefined;
  const simulator = v.AMAZON_PAY_SIMULATOR ?? !keyIdSet;
  // In production the simulator is an error, and the credentials it would replace are reported as missing.
  const simulatorAllowed = simulator && !isProduction;
  if (isProduction && simulator && has('AMAZON_PAY_SIMULATOR')) {
    problems.push(
      v.AMAZON_PAY_SIMULATOR === true
        ? 'AMAZON_PAY_SIMULATOR: the simulator is refused when NODE_ENV=production; set it to false and configure real Amazon Pay keys'
        : 'AMAZON_PAY_PUBLIC_KEY_ID: required when NODE_ENV=production (without it the simulator would run, which production refuses)',
    );
  }
  const keyEnvironment = keyId === undefined ? undefined : environmentOfKeyId(keyId);
  if (
    keyEnvironment &&
    v.AMAZON_PAY_SANDBOX !== undefined &&
    (keyEnvironment === 'sandbox') !== v.AMAZON_PAY_SANDBOX
  ) {
    problems.push(
      `AMAZON_PAY_SANDBOX: is ${v.AMAZON_PAY_SANDBOX} but AMAZON_PAY_PUBLIC_KEY_ID starts with ${keyEnvironment === 'sandbox' ? 'SANDBOX-' : 'LIVE-'}, which means ${keyEnvironment}; remove AMAZON_PAY_SANDBOX (the key id decides) or use the ${keyEnvironment === 'sandbox' ? 'live' : 'sandbox'} key id`,
    );
  }
  const sandbox = keyEnvironment ? keyEnvironment === 'sandbox' : (v.AMAZON_PAY_SANDBOX ?? true);
  if (simulatorAllowed && !sandbox) {
    warnings.push('the simulator runs with a live key configuration; the simulator never talks to Amazon');
  }
  if (keyIdSet && !keyEnvironment && v.AMAZON_PAY_SANDBOX === undefined && !simulator) {
    warnings.push(
      'AMAZON_PAY_PUBLIC_KEY_ID is a legacy key id and AMAZON_PAY_SANDBOX is not set: using sandbox; set AMAZON_PAY_SANDBOX=false for live',
    );
  }

  const keyText = raw.AMAZON_PAY_PRIVATE_KEY;
  const keyFile = raw.AMAZON_PAY_PRIVATE_KEY_FILE;
  if (keyText !== undefined && keyFile !== undefined) {
    problems.push(
      'AMAZON_PAY_PRIVATE_KEY_FILE: set either AMAZON_PAY_PRIVATE_KEY or AMAZON_PAY_PRIVATE_KEY_FILE, not both',
    );
  }
  if (!simulatorAllowed) {
    const required = isProduction ? 'required in production' : 'required unless the simulator runs';
    if (!keyIdSet && !(isProduction && simulator && v.AMAZON_PAY_SIMULATOR === undefined))
      problems.push(`AMAZON_PAY_PUBLIC_KEY_ID: ${required}`);
    if (keyText === undefined && keyFile === undefined) {
      problems.push(
        `AMAZON_PAY_PRIVATE_KEY: ${required} (or set AMAZON_PAY_PRIVATE_KEY_FILE to the .pem file)`,
      );
    }
    if (raw.AMAZON_PAY_MERCHANT_ID === undefined) {
      problems.push(`AMAZON_PAY_MERCHANT_ID: ${required} (Seller Central → Integration Central)`);
    }
    if (raw.AMAZON_PAY_STORE_ID === undefined) {
      problems.push(
        `AMAZON_PAY_STORE_ID: ${required} (the store id / client id, amzn1.application-oa2-client.…)`,
      );
    }
  }

  if (
    has('AMAZON_PAY_TIMEOUT_MS') &&
    has('AMAZON_PAY_BUDGET_MS') &&
    v.AMAZON_PAY_BUDGET_MS! < v.AMAZON_PAY_TIMEOUT_MS!
  ) {
    problems.push(
      'AMAZON_PAY_BUDGET_MS: must be at least AMAZON_PAY_TIMEOUT_MS (the budget covers all attempts)',
    );
  }
  if (simulatorAllowed && has('SIMULATOR_PORT') && has('PORT') && port !== 0 && v.SIMULATOR_PORT === port) {
    problems.push('SIMULATOR_PORT: must differ from PORT (the simulator listens on its own port)');
  }
  if (
    v.AMAZON_PAY_API_BASE_URL !== undefined &&
    isProduction &&
    new URL(v.AMAZON_PAY_API_BASE_URL).protocol !== 'https:'
  ) {
    warnings.push(
      'AMAZON_PAY_API_BASE_URL is plain http in production; signed requests and buyer data travel unencrypted',
    );
  }
  if (isProduction && raw.METRICS_TOKEN === undefined) {
    warnings.push('METRICS_TOKEN is not set: /metrics is readable by anyone who can reach the service');
  } else if (raw.METRICS_TOKEN !== undefined && raw.METRICS_TOKEN.length < 16) {
    warnings.push('METRICS_TOKEN is shorter than 16 characters; use a long random token');
  }

  // The key: loaded and self-tested only when the variables that decide it are valid.
  let privateKey: KeyObject | undefined;
  let publicKey: KeyObject | undefined;
  let privateKeySource = '';
  const algorithm = v.AMAZON_PAY_ALGORITHM ?? DEFAULT_ALGORITHM;
  if (!(keyText !== undefined && keyFile !== undefined)) {
    let variable = 'AMAZON_PAY_PRIVATE_KEY';
    try {
      if (keyFile !== undefined) {
        variable = 'AMAZON_PAY_PRIVATE_KEY_FILE';
        privateKeySource = `AMAZON_PAY_PRIVATE_KEY_FILE (${resolve(keyFile)})`;
        privateKey = loadPrivateKey(readPrivateKeyFile(keyFile));
        if (process.platform !== 'win32' && (statSync(resolve(keyFile)).mode & 0o077) !== 0) {
          warnings.push(
            `AMAZON_PAY_PRIVATE_KEY_FILE: ${resolve(keyFile)} is readable by other users; chmod 600 it`,
          );
        }
      } else if (keyText !== undefined) {
        privateKeySource = 'AMAZON_PAY_PRIVATE_KEY';
        privateKey = loadPrivateKey(keyText);
      } else if (simulatorAllowed && has('DATA_DIR')) {
        variable = 'DATA_DIR';
        const pair = generateDevKeyPair(v.DATA_DIR);
        privateKeySource = `generated simulator key (${pair.privateKeyPath})`;
        privateKey = pair.privateKey;
        publicKey = pair.publicKey;
      }
      if (privateKey) {
        publicKey ??= createPublicKey(privateKey);
        selfTestKey(privateKey, algorithm, publicKey);
      }
    } catch (err) {
      privateKey = undefined;
      problems.push(
        err instanceof KeyLoadError || variable !== 'DATA_DIR'
          ? describeKeyError(variable, err)
          : `DATA_DIR: cannot create the simulator key pair there (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
  }

  if (problems.length > 0 || !parsed.success || !privateKey || !publicKey || cookieSecret === undefined) {
    throw new ConfigError(problems.length > 0 ? problems : ['environment: could not be validated'], warnings);
  }
  const e = parsed.data;
  const databaseUrl = e.DATABASE_URL ?? `sqlite:${join(e.DATA_DIR, DEFAULT_SQLITE_FILE)}`;

  const config: Config = {
    nodeEnv: e.NODE_ENV,
    isProduction,
    port: e.PORT,
    host: e.HOST,
    publicBaseUrl,
    logLevel: e.LOG_LEVEL,
    databaseUrl,
    database: parseDatabaseUrl(databaseUrl)!,
    cookieSecret,
    cookieSecretGenerated,
    checkoutStartUrl: e.CHECKOUT_START_URL,
    simulator,
    simulatorPort: e.SIMULATOR_PORT,
    simulatorLatencyMs: e.SIMULATOR_LATENCY_MS,
    publicKeyId: e.AMAZON_PAY_PUBLIC_KEY_ID ?? SIMULATOR_PUBLIC_KEY_ID,
    privateKey,
    publicKey,
    privateKeySource,
    algorithm,
    region: e.AMAZON_PAY_REGION,
    sandbox,
    merchantId: e.AMAZON_PAY_MERCHANT_ID ?? SIMULATOR_MERCHANT_ID,
    storeId: e.AMAZON_PAY_STORE_ID ?? SIMULATOR_STORE_ID,
    apiBaseUrl:
      e.AMAZON_PAY_API_BASE_URL === undefined ? undefined : new URL(e.AMAZON_PAY_API_BASE_URL).origin,
    amazonPayTimeoutMs: e.AMAZON_PAY_TIMEOUT_MS,
    amazonPayBudgetMs: e.AMAZON_PAY_BUDGET_MS,
    returnWaitMs: e.RETURN_WAIT_MS,
    reconcileIntervalMs: e.RECONCILE_INTERVAL_MS,
    shutdownDrainMs: e.SHUTDOWN_DRAIN_MS,
    dataDir: e.DATA_DIR,
    metricsToken: e.METRICS_TOKEN,
    rateLimitMax: e.RATE_LIMIT_MAX,
    databasePoolMax: e.DATABASE_POOL_MAX,
    amazonPayMaxConcurrentCalls: e.AMAZON_PAY_MAX_CONCURRENT_CALLS,
    sqliteSynchronous: e.SQLITE_SYNCHRONOUS,
    trustProxy: e.TRUST_PROXY === undefined ? undefined : parseTrustProxy(e.TRUST_PROXY),
    redisUrl: e.REDIS_URL,
    piiRetentionDays: e.PII_RETENTION_DAYS,
    warnings,
  };
  // A config that ends up in a log line must not carry its secrets along.
  Object.defineProperty(config, 'toJSON', { value: () => redactConfig(config), enumerable: false });
  Object.defineProperty(config, inspect.custom, {
    value: (_depth: number, options: object) => inspect(redactConfig(config), options),
    enumerable: false,
  });
  return deepFreeze(config);
}
