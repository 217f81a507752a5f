// Test harness: the real service on a real port with SQLite on disk (or PostgreSQL in a throwaway schema), the
// simulator on its own port, captured logs, and a cookie-keeping "browser" that speaks plain HTTP.
import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import pino from 'pino';
import { request } from 'undici';
import { createService, type Service, type ServiceOptions } from '../../src/compose.ts';
import { type Simulator, startSimulator } from '../../src/simulator/index.ts';

export const TEST_KEY_ID = 'SANDBOX-TESTKEY0000000000000000';
/** The local test database (trust auth); override with TEST_DATABASE_URL. */
export const TEST_PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const privateKey = createPrivateKey(
  readFileSync(new URL('../fixtures/amazon-test-key-private-pkcs1.pem', import.meta.url)),
);
export const publicKey = createPublicKey(
  readFileSync(new URL('../fixtures/amazon-test-key-public.pem', import.meta.url)),
);

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  location: string | undefined;
}

export class Browser {
  readonly cookies = new Map<string, string>();
  readonly #baseUrl: string;

  constructor(baseUrl: string) {
    this.#baseUrl = baseUrl;
  }

  async fetch(
    path: string,
    init: { method?: 'GET' | 'POST'; body?: string; headers?: Record<string, string> } = {},
  ): Promise<HttpResult> {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await request(new URL(path, this.#baseUrl), {
      method: init.method ?? 'GET',
      headers: {
        ...(cookie ? { cookie } : {}),
        ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...init.headers,
      },
      ...(init.body !== undefined ? { body: init.body } : {}),
    });
    const body = await res.body.text();
    const setCookie = res.headers['set-cookie'];
    for (const line of Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : []) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      this.cookies.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
    }
    const location = res.headers.location;
    return {
      status: res.statusCode,
      headers: res.headers,
      body,
      location: typeof location === 'string' ? location : undefined,
    };
  }

  /** Starts a checkout attempt like the start page's script does: sets the binding cookie. */
  async startCheckout(): Promise<{ payloadJSON: string; signature: string }> {
    const res = await this.fetch('/api/amazon-pay/button-config', { method: 'POST', body: '{}' });
    if (res.status !== 200) throw new Error(`button-config answered ${res.status}`);
    return JSON.parse(res.body).createCheckoutSessionConfig;
  }

  returnFromAmazon(checkoutSessionId: string): Promise<HttpResult> {
    return this.fetch(
      `/checkout/amazon-pay/return?amazonCheckoutSessionId=${encodeURIComponent(checkoutSessionId)}`,
    );
  }

  /** Follows redirects on our own origin, as a browser would, and returns the final page. */
  async follow(first: HttpResult, maxHops = 5): Promise<HttpResult & { url: string }> {
    let res = first;
    let url = '';
    for (let i = 0; i < maxHops && res.location && res.status >= 300 && res.status < 400; i += 1) {
      url = res.location;
      res = await this.fetch(url);
    }
    return { ...res, url };
  }
}

export interface Harness {
  baseUrl: string;
  sim: Simulator;
  service: Service;
  logs: string[];
  /** The SQLite file (also created, unused, in postgres mode). */
  dbFile: string;
  /** `sqlite` or `postgres`, for test names and expectations. */
  storeKind: 'sqlite' | 'postgres';
  browser(): Browser;
  /** Closes the service and starts a new one on the same SQLite file (a process restart). */
  restart(overrides?: Partial<ServiceOptions>): Promise<void>;
  close(): Promise<void>;
}

export function captureLogger(lines: string[]) {
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(line);
      cb();
    },
  });
  return pino({ level: 'debug' }, stream);
}

export function defaultAmazonPay(apiBaseUrl: string): ServiceOptions['amazonPay'] {
  return {
    publicKeyId: TEST_KEY_ID,
    privateKey,
    publicKey,
    region: 'na',
    sandbox: true,
    algorithm: 'AMZN-PAY-RSASSA-PSS-V2',
    apiBaseUrl,
    merchantId: 'TESTMERCHANT',
    storeId: 'amzn1.application-oa2-client.test',
    attemptTimeoutMs: 2_000,
    budgetMs: 5_000,
  };
}

export interface HarnessOptions {
  latencyMs?: number;
  amazonPay?: Partial<ServiceOptions['amazonPay']>;
  /** `postgres://…` runs the service on PostgreSQL in a fresh schema, dropped by close(); default SQLite on disk. */
  databaseUrl?: string;
}

/** The service options every in-process test starts from: test key, the given simulator, limits off. */
export function baseServiceOptions(input: {
  logs: string[];
  databaseUrl: string;
  simulatorUrl: string;
  overrides?: Partial<ServiceOptions>;
}): ServiceOptions {
  return {
    logger: captureLogger(input.logs),
    databaseUrl: input.databaseUrl,
    amazonPay: defaultAmazonPay(input.simulatorUrl),
    simulator: undefined,
    publicBaseUrl: 'http://localhost:3000',
    checkoutStartUrl: '/checkout',
    cookieSecret: 'test-cookie-secret-with-at-least-32-characters',
    rateLimitMax: 0,
    trustProxy: undefined,
    metricsToken: undefined,
    redisUrl: undefined,
    returnWaitMs: 8_000,
    reconcileIntervalMs: 60_000,
    piiRetentionDays: 30,
    startReconciler: false,
    ...input.overrides,
  };
}

export async function startHarness(
  overrides: Partial<ServiceOptions> = {},
  options: HarnessOptions = {},
): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'checkout-test-'));
  const dbFile = join(dir, 'checkout.db');
  const postgres = options.databaseUrl?.startsWith('postgres') === true;
  const schema = postgres ? `harness_${randomBytes(5).toString('hex')}` : undefined;
  const logs: string[] = [];
  const sim = await startSimulator({
    publicKeys: { [TEST_KEY_ID]: publicKey },
    ...(options.latencyMs !== undefined ? { latencyMs: options.latencyMs } : {}),
  });
  const base = (): ServiceOptions =>
    baseServiceOptions({
      logs,
      databaseUrl: postgres ? options.databaseUrl! : `sqlite:${dbFile}`,
      simulatorUrl: sim.url,
      overrides: {
        ...(schema ? { storeSchema: schema } : {}),
        amazonPay: { ...defaultAmazonPay(sim.url), ...options.amazonPay },
        ...overrides,
      },
    });
  let service = await createService(base());
  let baseUrl = await service.app.listen({ port: 0, host: '127.0.0.1' });
  const harness: Harness = {
    get baseUrl() {
      return baseUrl;
    },
    sim,
    get service() {
      return service;
    },
    logs,
    dbFile,
    storeKind: postgres ? 'postgres' : 'sqlite',
    browser: () => new Browser(baseUrl),
    async restart(more = {}) {
      await service.close();
      // Let the client side see the FIN of the closed keep-alive sockets before anything reuses them (a browser
      // would retry such a request on a new connection; undici surfaces "other side closed").
      await new Promise((resolve) => setTimeout(resolve, 20));
      service = await createService({ ...base(), ...more });
      // Same port, so browsers keep working across the restart.
      const port = Number(new URL(baseUrl).port);
      baseUrl = await service.app.listen({ port, host: '127.0.0.1' });
    },
    async close() {
      await service.close();
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
      if (schema) {
        const admin = new pg.Client({ connectionString: options.databaseUrl });
        await admin.connect();
        try {
          await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        } finally {
          await admin.end();
        }
      }
    },
  };
  return harness;
}
