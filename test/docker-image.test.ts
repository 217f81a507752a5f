// No Docker engine runs here: this parses the Dockerfile and checks that what the image runs is what we run
// (the start script, the Node major of `engines`, a health check against a real readiness route).
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV_VARIABLES } from '../src/config.ts';
import { type Harness, startHarness } from './support/harness.ts';

const run = promisify(execFile);
const root = new URL('../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');
const pkg = JSON.parse(read('package.json')) as { scripts: { start: string }; engines: { node: string } };

interface Instruction {
  keyword: string;
  args: string;
  stage: number;
}

/** Instructions in order, continuation lines joined, comments dropped; `stage` counts FROMs from 0. */
function parseDockerfile(text: string): Instruction[] {
  const logical: string[] = [];
  let pending = '';
  for (const line of text.split('\n')) {
    if (pending === '' && /^\s*(#|$)/.test(line)) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trim()} `;
      continue;
    }
    logical.push(`${pending}${line.trim()}`);
    pending = '';
  }
  let stage = -1;
  return logical.map((line) => {
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    if (keyword.toUpperCase() === 'FROM') stage += 1;
    return { keyword: keyword.toUpperCase(), args, stage };
  });
}

const instructions = parseDockerfile(read('Dockerfile'));
const finalStage = Math.max(...instructions.map((i) => i.stage));
const inFinal = (keyword: string) =>
  instructions.filter((i) => i.stage === finalStage && i.keyword === keyword);
/** The exec-form array of a CMD or HEALTHCHECK instruction. */
const execForm = (args: string) => JSON.parse(args.slice(args.indexOf('['))) as string[];

describe('Dockerfile', () => {
  it('every stage is node:<engines major>-slim', () => {
    const major = /(\d+)/.exec(pkg.engines.node)![1];
    const froms = instructions.filter((i) => i.keyword === 'FROM');
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) expect(from.args.split(/\s+/)[0]).toBe(`node:${major}-slim`);
  });

  it('CMD is exactly the start script, and its file exists', () => {
    const [cmd] = inFinal('CMD');
    const argv = execForm(cmd!.args);
    expect(argv.join(' ')).toBe(pkg.scripts.start);
    expect(existsSync(new URL(argv[1]!, root))).toBe(true);
  });

  it('the final stage installs production dependencies with npm ci and runs as node', () => {
    const runs = inFinal('RUN').map((i) => i.args);
    expect(runs.some((line) => /\bnpm ci --omit=dev\b/.test(line))).toBe(true);
    expect(instructions.some((i) => i.keyword === 'RUN' && /\bnpm (install|i)\b/.test(i.args))).toBe(false);
    const order = instructions.filter((i) => i.stage === finalStage).map((i) => i.keyword);
    expect(inFinal('USER').map((i) => i.args)).toEqual(['node']);
    expect(order.indexOf('USER')).toBeLessThan(order.indexOf('CMD'));
  });

  it('sets HOST=0.0.0.0 and NODE_ENV=production (settings the service reads) and a heap cap for Node', () => {
    const env = Object.fromEntries(
      inFinal('ENV').flatMap((i) =>
        i.args.split(/\s+/).map((pair) => {
          const eq = pair.indexOf('=');
          return [pair.slice(0, eq), pair.slice(eq + 1)] as [string, string];
        }),
      ),
    );
    expect(env).toMatchObject({
      HOST: '0.0.0.0',
      NODE_ENV: 'production',
      NODE_OPTIONS: expect.stringMatching(/^--max-old-space-size=\d+$/),
    });
    // Every other variable must be one the service reads: a misspelt name would be silently ignored.
    for (const name of Object.keys(env).filter((n) => n !== 'NODE_OPTIONS'))
      expect(ENV_VARIABLES).toContain(name);
  });

  it('copies the sources and package files only, and every one of them exists', () => {
    const copied = instructions
      .filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect(new Set(copied)).toEqual(new Set(['package.json', 'package-lock.json', 'tsconfig.json', 'src/']));
    for (const path of copied) expect(existsSync(new URL(path, root)), path).toBe(true);
    // The runtime gets the sources from the stage that type-checked them.
    expect(inFinal('COPY').map((i) => i.args)).toContain('--from=check /app/src ./src');
  });

  it('.dockerignore keeps dependencies, local state, tests and secrets out of the build context', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    for (const entry of [
      'node_modules',
      'data',
      'test',
      'test-results',
      'bench',
      '.git',
      '.env',
      'keys',
      '*.pem',
    ]) {
      expect(ignored).toContain(entry);
    }
    for (const needed of ['src', 'package.json', 'package-lock.json', 'tsconfig.json']) {
      expect(ignored).not.toContain(needed);
    }
  });

  it('the README runs the image with settings the service knows', () => {
    const readme = read('README.md');
    expect(readme).toContain('docker build -t amazon-pay-checkout .');
    const run = readme.slice(readme.indexOf('docker run'));
    const names = [...run.slice(0, run.indexOf('```')).matchAll(/-e ([A-Z0-9_]+)=/g)].map((m) => m[1]);
    expect(names).toContain('AMAZON_PAY_PRIVATE_KEY_FILE');
    for (const name of names) expect(ENV_VARIABLES).toContain(name);
  });
});

describe('HEALTHCHECK', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  const [healthcheck] = inFinal('HEALTHCHECK');
  const argv = execForm(healthcheck?.args ?? '[]');
  /** Runs the image's health-check command as Docker would, against a real service on PORT. */
  const probe = async () => {
    try {
      await run(process.execPath, argv.slice(1), {
        env: { PATH: process.env.PATH, PORT: new URL(h.baseUrl).port },
        timeout: 5_000,
      });
      return 0;
    } catch (err) {
      return (err as { code?: number }).code ?? -1;
    }
  };

  it('is node with fetch on a route that exists', () => {
    expect(argv[0]).toBe('node');
    const path = /\/health\/[a-z]+/.exec(argv.join(' '))?.[0];
    expect(path).toBe('/health/ready');
    expect(h.service.app.hasRoute({ method: 'GET', url: path! })).toBe(true);
    expect(healthcheck!.args).toMatch(/--timeout=\d+s/);
  });

  it('passes while ready and fails once draining', async () => {
    expect(await probe()).toBe(0);
    h.service.markDraining();
    expect(await probe()).toBe(1);
  });
});
