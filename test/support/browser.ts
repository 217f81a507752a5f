// Browser-test support: Debian's Chromium through playwright-core, the real service with its built-in simulator on free ports, screenshots.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { createService, type Service, type ServiceOptions } from '../../src/compose.ts';
import { captureLogger, privateKey, publicKey, TEST_KEY_ID } from './harness.ts';
import { freePort } from './processes.ts';

export { freePort };

export const CHROMIUM_PATH = '/usr/bin/chromium';
export const SCREENSHOT_DIR = new URL('../../test-results/screenshots/', import.meta.url).pathname;
export const DESKTOP = { width: 1100, height: 800 } as const;
export const MOBILE = { width: 390, height: 844 } as const;

/** Launches Debian's Chromium; a missing binary is a failure with instructions, never a silent skip. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM_PATH}: the browser tests need Debian's chromium package. ` +
        'Install it with `apt-get install -y chromium` (as root), or run the suite through `./run test`, which installs it.',
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
}

export interface BrowserService {
  baseUrl: string;
  service: Service;
  logs: string[];
  close(): Promise<void>;
}

/**
 * The real service, listening on `http://127.0.0.1:<port>` with that URL as its PUBLIC_BASE_URL (so the button
 * payload's signInReturnUrl points back here), SQLite in a temp file and the built-in simulator on its own port.
 */
export async function startBrowserService(overrides: Partial<ServiceOptions> = {}): Promise<BrowserService> {
  const dir = mkdtempSync(join(tmpdir(), 'checkout-browser-'));
  const logs: string[] = [];
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const service = await createService({
    logger: captureLogger(logs),
    databaseUrl: `sqlite:${join(dir, 'checkout.db')}`,
    amazonPay: {
      publicKeyId: TEST_KEY_ID,
      privateKey,
      publicKey,
      region: 'na',
      sandbox: true,
      algorithm: 'AMZN-PAY-RSASSA-PSS-V2',
      apiBaseUrl: undefined,
      merchantId: 'TESTMERCHANT',
      storeId: 'amzn1.application-oa2-client.test',
      attemptTimeoutMs: 5_000,
      budgetMs: 10_000,
    },
    simulator: { host: '127.0.0.1', port: 0 },
    publicBaseUrl: baseUrl,
    checkoutStartUrl: '/checkout',
    cookieSecret: 'browser-test-cookie-secret-with-32-characters-or-more',
    rateLimitMax: 0,
    trustProxy: undefined,
    metricsToken: undefined,
    redisUrl: undefined,
    returnWaitMs: 8_000,
    reconcileIntervalMs: 60_000,
    piiRetentionDays: 30,
    startReconciler: false,
    ...overrides,
  });
  try {
    await service.app.listen({ port, host: '127.0.0.1' });
  } catch (err) {
    await service.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    baseUrl,
    service,
    logs,
    async close() {
      await service.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh context (own cookies); waits fail after 15 s with Playwright's message, well before the test timeout. */
export async function newContext(
  browser: Browser,
  viewport: { width: number; height: number } = DESKTOP,
): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport, locale: 'en-US', colorScheme: 'light' });
  context.setDefaultTimeout(15_000);
  return context;
}

/** Saves a test artifact under test-results/screenshots/ (git-ignored) and returns its path. */
export async function screenshot(page: Page, name: string, fullPage = true): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage });
  return path;
}

/** Whether the page scrolls sideways, the usual sign of a layout that does not fit a phone. */
export function horizontalOverflow(page: Page): Promise<number> {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

export interface ServerProcess {
  baseUrl: string;
  child: ChildProcess;
  /** Everything the process wrote so far (stdout and stderr), for assertions and failure messages. */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code (null when killed by a signal). */
  stop(graceMs?: number): Promise<number | null>;
}

/**
 * Runs `node src/server.ts` exactly as `npm start` does, with an environment built from scratch (PATH and HOME
 * only, plus `env`) so no AMAZON_PAY_* or DATABASE_URL from the developer's shell leaks in. Resolves once
 * `/health/ready` answers 200; fails with the process output when it exits or takes too long.
 */
export async function spawnServer(
  port: number,
  env: Record<string, string>,
  timeoutMs = 20_000,
): Promise<ServerProcess> {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const child = spawn(process.execPath, ['src/server.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer) => {
    if (output.length < 200_000) output += chunk.toString('utf8');
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const baseUrl = `http://127.0.0.1:${port}`;
  const server: ServerProcess = {
    baseUrl,
    child,
    output: () => output,
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `node src/server.ts exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${output}`,
      );
    }
    try {
      const res = await fetch(`${baseUrl}/health/ready`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      if (res.status === 200) return server;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await server.stop(1_000);
  throw new Error(`node src/server.ts was not ready within ${timeoutMs} ms:\n${output}`);
}
