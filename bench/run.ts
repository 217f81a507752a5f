// `npm run bench`: drives the full Amazon Pay return flow against the simulator and the service as separate
// processes, beside the official-SDK baseline and the machine's raw signing limit; prints a table, writes JSON.
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { availableParallelism, cpus, release, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Pool } from 'undici';
import { CLIENT_DEFAULTS } from '../src/amazon-pay/client.ts';
import type { EventLoopReport } from './child-guard.ts';
import type { ProberCommand, ProberReply } from './prober.ts';
import type { SignLimit } from './sign-limit.ts';
import { type ProbeStats, percentile } from './stats.ts';
import type { SyncLevelResult } from './store-sync.ts';

const ROOT = resolve(import.meta.dirname, '..');
const RESULTS_DIR = join(ROOT, 'bench', 'results');
const LOG_DIR = join(RESULTS_DIR, 'logs');
const KEY_ID = 'SANDBOX-BENCHKEY000000000000000';
const RETURN_PATH = '/checkout/amazon-pay/return';
const RESULT_PREFIX = '/checkout/amazon-pay/result/';
const PROBE_HEALTH_PER_SECOND = 100;
const PROBE_SIMULATOR_PER_SECOND = 50;
/** Staggered autocannon instances for the fixed-rate scenario (see runLoad). */
const RATE_INSTANCES = 50;

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    'log-level': { type: 'string', default: 'info' },
    connections: { type: 'string', default: '50' },
    rate: { type: 'string', default: '500' },
    inflight: { type: 'string', default: '1000' },
    'latency-ms': { type: 'string', default: '150' },
    'jitter-ms': { type: 'string', default: '50' },
    keep: { type: 'boolean', default: false },
    /** Node options for the service process; the default is the Docker image's NODE_OPTIONS. */
    'service-node-option': { type: 'string', multiple: true, default: ['--max-old-space-size=192'] },
    /** Writes a V8 CPU profile of the service to bench/results/profiles (for finding what bounds throughput). */
    profile: { type: 'boolean', default: false },
  },
});
const SECONDS = Number(args.seconds);
const LOG_LEVEL = args['log-level'];
const CONNECTIONS = Number(args.connections);
const RATE = Number(args.rate);
const INFLIGHT = Number(args.inflight);
const LATENCY_MS = Number(args['latency-ms']);
const JITTER_MS = Number(args['jitter-ms']);

// ---------------------------------------------------------------------------------------------------------
// Child processes: every one is tracked and killed however the bench ends (child-guard also makes them exit
// when this process dies, since its IPC channel closes).

interface Child {
  name: string;
  proc: ChildProcess;
  exited: Promise<void>;
  /** Set when the process ended without being asked to. */
  crashed: string | undefined;
  stopping: boolean;
}

const children = new Set<Child>();

function spawnChild(name: string, args: string[], env: NodeJS.ProcessEnv): Child {
  mkdirSync(LOG_DIR, { recursive: true });
  // Appended: a restarted process (service FULL, simulator with latency) keeps the earlier run's lines.
  const fd = openSync(join(LOG_DIR, `${name}.log`), 'a');
  const proc = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', fd, fd, 'ipc'] });
  closeSync(fd);
  const child: Child = { name, proc, exited: Promise.resolve(), crashed: undefined, stopping: false };
  child.exited = new Promise((resolveExit) => {
    proc.once('exit', (code, signal) => {
      if (!child.stopping)
        child.crashed = `exited with ${code ?? signal} (see bench/results/logs/${name}.log)`;
      children.delete(child);
      resolveExit();
    });
  });
  children.add(child);
  return child;
}

function isRunning(child: Child): boolean {
  return child.proc.exitCode === null && child.proc.signalCode === null;
}

async function stopChild(child: Child, graceMs = 5_000): Promise<void> {
  child.stopping = true;
  if (!isRunning(child)) return child.exited;
  child.proc.kill('SIGTERM');
  const timer = setTimeout(() => isRunning(child) && child.proc.kill('SIGKILL'), graceMs);
  await child.exited;
  clearTimeout(timer);
}

async function stopAll(): Promise<void> {
  await Promise.all([...children].map((child) => stopChild(child)));
}

process.on('exit', () => {
  for (const child of children) if (isRunning(child)) child.proc.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: stopping the bench processes\n`);
    void stopAll().finally(() => process.exit(130));
  });
}

function assertAlive(...list: Child[]): void {
  for (const child of list) if (child.crashed) throw new Error(`${child.name} ${child.crashed}`);
}

let ipcId = 0;
function ipcRequest<T>(child: Child, message: object, replyType: string, timeoutMs = 60_000): Promise<T> {
  const id = ++ipcId;
  return new Promise<T>((resolveReply, reject) => {
    const onMessage = (reply: { type: string; id?: number }) => {
      if (reply.type !== replyType || (reply.id !== undefined && reply.id !== id)) return;
      cleanup();
      resolveReply(reply as T);
    };
    const onExit = () => {
      cleanup();
      reject(new Error(`${child.name} exited while the bench waited for ${replyType}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${child.name} did not answer ${replyType} in time`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      child.proc.off('message', onMessage);
      child.proc.off('exit', onExit);
    };
    child.proc.on('message', onMessage);
    child.proc.once('exit', onExit);
    child.proc.send({ ...message, id });
  });
}

// ---------------------------------------------------------------------------------------------------------
// Small helpers.

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(url: string, child: Child, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    assertAlive(child);
    try {
      const client = new Client(new URL(url).origin);
      try {
        const res = await client.request({ method: 'GET', path: new URL(url).pathname });
        await res.body.dump();
        if (res.statusCode === 200) return;
      } finally {
        await client.close();
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${child.name} did not become ready at ${url}`);
    await sleep(100);
  }
}

async function mapLimit<T>(count: number, limit: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      out[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
  return out;
}

function runNodeJson<T>(script: string, scriptArgs: string[]): Promise<T> {
  return new Promise((resolveRun, reject) => {
    const proc = spawn(process.execPath, [script, ...scriptArgs], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    proc.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
    });
    proc.once('error', reject);
    proc.once('exit', (code) => {
      if (code !== 0) reject(new Error(`${script} exited with ${code}`));
      else resolveRun(JSON.parse(out) as T);
    });
  });
}

/** Peak RSS of one scenario: VmHWM is reset through clear_refs (Linux), and VmRSS is sampled as a fallback. */
class RssWatch {
  readonly #pid: number;
  #timer: NodeJS.Timeout | undefined;
  #sampledKb = 0;
  #reset = false;

  constructor(pid: number) {
    this.#pid = pid;
  }

  #field(name: string): number {
    const status = readFileSync(`/proc/${this.#pid}/status`, 'utf8');
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    return match ? Number(match[1]) : 0;
  }

  start(): void {
    try {
      writeFileSync(`/proc/${this.#pid}/clear_refs`, '5');
      this.#reset = true;
    } catch {
      this.#reset = false;
    }
    this.#sampledKb = this.#field('VmRSS');
    this.#timer = setInterval(() => {
      try {
        this.#sampledKb = Math.max(this.#sampledKb, this.#field('VmRSS'));
      } catch {
        // the process is gone; the scenario reports it
      }
    }, 200);
  }

  stopMb(): number {
    clearInterval(this.#timer);
    const hwm = this.#reset ? this.#field('VmHWM') : 0;
    return Math.max(hwm, this.#sampledKb) / 1024;
  }
}

/** Clock ticks per second of /proc's CPU counters (USER_HZ; 100 on Linux). */
const CLK_TCK = 100;

function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces): utime is the 14th field, stime the 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
  } catch {
    return 0;
  }
}

function machineCpuMs(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line
    .split(/\s+/)
    .slice(1, 9)
    .map(Number) as number[];
  const busy = user! + nice! + system! + irq! + softirq! + steal!;
  return { busy: (busy * 1000) / CLK_TCK, total: ((busy + idle! + iowait!) * 1000) / CLK_TCK };
}

/**
 * CPU time per process over one scenario, and what the rest of the machine used meanwhile: on a shared 2-core
 * machine this says whether a figure was bounded by our own processes or by someone else's.
 */
class CpuWatch {
  readonly #pids: Record<string, number>;
  #start: Record<string, number> = {};
  #machine = { busy: 0, total: 0 };
  #self = process.cpuUsage();

  constructor(pids: Record<string, number>) {
    this.#pids = pids;
  }

  start(): void {
    this.#start = Object.fromEntries(
      Object.entries(this.#pids).map(([name, pid]) => [name, processCpuMs(pid)]),
    );
    this.#machine = machineCpuMs();
    this.#self = process.cpuUsage();
  }

  stop(): CpuReport {
    const perProcessMs: Record<string, number> = {};
    for (const [name, pid] of Object.entries(this.#pids))
      perProcessMs[name] = processCpuMs(pid) - this.#start[name]!;
    const self = process.cpuUsage(this.#self);
    perProcessMs['load generator (bench)'] = (self.user + self.system) / 1000;
    const machine = machineCpuMs();
    const busyMs = machine.busy - this.#machine.busy;
    const totalMs = machine.total - this.#machine.total;
    const ours = Object.values(perProcessMs).reduce((a, b) => a + b, 0);
    return {
      perProcessMs,
      machineBusyPercent: totalMs > 0 ? (busyMs / totalMs) * 100 : 0,
      otherProcessesPercent: totalMs > 0 ? (Math.max(0, busyMs - ours) / totalMs) * 100 : 0,
    };
  }
}

interface CpuReport {
  perProcessMs: Record<string, number>;
  /** Share of all cores busy during the scenario. */
  machineBusyPercent: number;
  /** Share of all cores used by processes that are not part of the bench (other work on the machine). */
  otherProcessesPercent: number;
}

// ---------------------------------------------------------------------------------------------------------
// Simulator and service plumbing.

interface SimTotals {
  completeCalls: number;
  getCalls: number;
  connections: number;
}

/** On a fresh connection of its own (counted by the simulator in the totals it returns). */
async function simTotals(simUrl: string): Promise<SimTotals> {
  const client = new Client(simUrl);
  try {
    const res = await client.request({ method: 'GET', path: '/__sim/totals' });
    return (await res.body.json()) as SimTotals;
  } finally {
    await client.close();
  }
}

async function createSimSessions(simUrl: string, count: number): Promise<string[]> {
  const pool = new Pool(simUrl, { connections: 8 });
  try {
    return await mapLimit(count, 64, async () => {
      const res = await pool.request({
        method: 'POST',
        path: '/__sim/sessions',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      const body = (await res.body.json()) as { checkoutSessionId?: string };
      if (res.statusCode !== 201 || !body.checkoutSessionId)
        throw new Error(`simulator session: ${res.statusCode}`);
      return body.checkoutSessionId;
    });
  } finally {
    await pool.close();
  }
}

/** The start page's call: one binding (and its signed cookie) per return, as one browser per checkout. */
async function createBindings(serviceUrl: string, count: number): Promise<string[]> {
  const pool = new Pool(serviceUrl, { connections: 8 });
  try {
    return await mapLimit(count, 64, async () => {
      const res = await pool.request({
        method: 'POST',
        path: '/api/amazon-pay/button-config',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      await res.body.dump();
      const setCookie = res.headers['set-cookie'];
      const first = Array.isArray(setCookie) ? setCookie[0] : setCookie;
      if (res.statusCode !== 200 || !first) throw new Error(`button-config: ${res.statusCode}`);
      return first.split(';')[0]!;
    });
  } finally {
    await pool.close();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Load generation (autocannon's programmatic API, loaded through require: it ships no types).

interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  resets: number;
  statusCodeStats: Record<string, { count: number }>;
  latency: Record<string, number>;
}
interface AutocannonRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
}
type Autocannon = (
  options: object,
  callback: (err: Error | null, result: AutocannonResult) => void,
) => {
  stop(): void;
  on(event: 'response', listener: (client: unknown, status: number, bytes: number, ms: number) => void): void;
};
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

interface LoadItem {
  path: string;
  cookie?: string;
}

interface LoadOutcome {
  requests: number;
  seconds: number;
  throughputPerSecond: number;
  latencyMs: { mean: number; p50: number; p99: number; p999: number; max: number };
  ok: number;
  errors: {
    total: number;
    transport: number;
    timeouts: number;
    wrongAnswer: number;
    /** Requests that found no fresh session left (sized too small): each one would have re-used a session. */
    exhausted: number;
    statusCodes: Record<string, number>;
  };
}

function runLoad(spec: {
  origin: string;
  items: LoadItem[];
  amount: number;
  connections: number;
  overallRate?: number;
  /**
   * Parallel autocannon instances started `1000 / instances` ms apart. autocannon's rate limit lets each
   * connection send its whole per-second quota back to back when its 1 s timer ticks, and all timers start
   * together: one instance at 500 req/s is a burst of 500 every second, not a steady rate. Staggered instances
   * spread the bursts over the second.
   */
  instances?: number;
  isOk: (status: number, location: string | undefined) => boolean;
}): Promise<LoadOutcome> {
  let next = 0;
  let ok = 0;
  let wrong = 0;
  let exhausted = 0;
  // Raw response times of every request: exact percentiles over all instances, and none of autocannon's
  // coordinated-omission filling (with a rate it assumes a 1 ms send interval and adds synthetic samples).
  const latencies: number[] = [];
  const requests = [
    {
      method: 'GET',
      setupRequest: (request: AutocannonRequest) => {
        const item = spec.items[next++];
        if (!item) {
          exhausted += 1;
          return { ...request, path: '/health/live', headers: {} };
        }
        return { ...request, path: item.path, headers: item.cookie ? { cookie: item.cookie } : {} };
      },
      onResponse: (status: number, _body: string, _context: object, headers: Record<string, string>) => {
        if (spec.isOk(status, headers.location)) ok += 1;
        else wrong += 1;
      },
    },
  ];
  const instances = Math.max(1, spec.instances ?? 1);
  const share = (total: number, i: number) => Math.floor(total / instances) + (i < total % instances ? 1 : 0);
  const started = performance.now();
  const runs = Array.from(
    { length: instances },
    (_, i) =>
      new Promise<AutocannonResult>((resolveRun, reject) => {
        setTimeout(
          () => {
            const instance = autocannon(
              {
                url: spec.origin,
                connections: Math.max(1, share(spec.connections, i)),
                amount: share(spec.amount, i),
                ...(spec.overallRate ? { overallRate: share(spec.overallRate, i) } : {}),
                timeout: 30,
                requests,
              },
              (err, result) => {
                clearTimeout(guard);
                if (err) reject(err);
                else resolveRun(result);
              },
            );
            instance.on(
              'response',
              (_client: unknown, _status: number, _bytes: number, responseTime: number) => {
                latencies.push(responseTime);
              },
            );
            // A stuck run must not hold the bench past its budget.
            const guard = setTimeout(() => instance.stop(), Math.max(60, SECONDS * 6) * 1000);
          },
          (i * 1000) / instances,
        );
      }),
  );
  return Promise.all(runs).then((results) => {
    const seconds = (performance.now() - started) / 1000;
    const statusCodes: Record<string, number> = {};
    let errors = 0;
    let timeouts = 0;
    for (const result of results) {
      errors += result.errors;
      timeouts += result.timeouts;
      for (const [code, { count }] of Object.entries(result.statusCodeStats)) {
        statusCodes[code] = (statusCodes[code] ?? 0) + count;
      }
    }
    const sorted = latencies.sort((a, b) => a - b);
    const transport = errors - timeouts;
    // The staggered starts add a ramp of (instances - 1) / instances s that is not load.
    const loadSeconds = seconds - (instances - 1) / instances;
    return {
      requests: ok + wrong,
      seconds: loadSeconds,
      throughputPerSecond: ok / loadSeconds,
      latencyMs: {
        mean: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length),
        p50: percentile(sorted, 50),
        p99: percentile(sorted, 99),
        p999: percentile(sorted, 99.9),
        max: sorted.at(-1) ?? Number.NaN,
      },
      ok,
      errors: {
        total: transport + timeouts + wrong + exhausted,
        transport,
        timeouts,
        wrongAnswer: wrong,
        exhausted,
        statusCodes,
      },
    };
  });
}

// ---------------------------------------------------------------------------------------------------------
// Scenarios.

interface ScenarioResult {
  name: string;
  target: 'service' | 'sdk-baseline';
  simulatorLatency: string;
  connections: number;
  overallRate: number | null;
  requests: number;
  seconds: number;
  throughputPerSecond: number;
  latencyMs: LoadOutcome['latencyMs'];
  /** Direct signed Complete calls to the simulator during the load: its own service time as a client sees it. */
  simulatorOwnMs: { p50: number; p99: number; p999: number; samples: number } | null;
  /** Our percentile minus the simulator's own, per percentile (an approximation for jittered latency). */
  serviceAddedMs: { p50: number; p99: number; p999: number } | null;
  eventLoopDelayMs: { p50: number; p99: number; max: number; source: string } | null;
  metricsEventLoopLagP99Ms: number | null;
  /** From /metrics after the load (when exposed): where the peak RSS went. */
  memoryAfterMb: {
    rss: number | null;
    heapUsed: number | null;
    heapTotal: number | null;
    external: number | null;
  };
  peakRssMb: number;
  healthLive: ProbeStats | null;
  errors: LoadOutcome['errors'];
  /** CPU milliseconds per return, by process; and how busy the machine was, by us and by others. */
  cpu: { msPerReturn: Record<string, number>; machineBusyPercent: number; otherProcessesPercent: number };
  simulator: {
    newConnections: number;
    completeCalls: number;
    getCalls: number;
    completeCallsPerReturn: number;
  };
}

interface Stack {
  simUrl: string;
  sim: Child;
  serviceUrl: string;
  service: Child;
  sdkUrl: string;
  sdk: Child;
  prober: Child;
  keyFile: string;
  metricsToken: string;
  hasMetrics: boolean;
}

/** GET /metrics when the service exposes it (a metrics plugin may or may not be there yet). */
async function scrapeMetrics(stack: Stack): Promise<string | null> {
  if (!stack.hasMetrics) return null;
  const client = new Client(stack.serviceUrl);
  try {
    const res = await client.request({
      method: 'GET',
      path: '/metrics',
      headers: { authorization: `Bearer ${stack.metricsToken}` },
    });
    const text = await res.body.text();
    return res.statusCode === 200 ? text : null;
  } finally {
    await client.close();
  }
}

function metricValue(text: string | null, name: string): number | null {
  if (text === null) return null;
  const match = new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+([0-9.eE+-]+)`, 'm').exec(text);
  return match ? Number(match[1]) : null;
}

async function scenario(
  stack: Stack,
  opts: {
    name: string;
    target: 'service' | 'sdk-baseline';
    simulatorLatency: string;
    connections: number;
    overallRate?: number;
    instances?: number;
    items: LoadItem[];
    amount: number;
    probeSimulatorSessions: string[];
  },
): Promise<ScenarioResult> {
  const isService = opts.target === 'service';
  const process_ = isService ? stack.service : stack.sdk;
  const origin = isService ? stack.serviceUrl : stack.sdkUrl;
  assertAlive(stack.sim, process_);
  process.stdout.write(`  ${opts.name}: ${opts.amount} returns over ${opts.connections} connections…`);

  const before = await simTotals(stack.simUrl);
  if (isService) {
    await ipcRequest(process_, { type: 'eld-reset' }, 'eld-reset-ack', 5_000).catch(() => undefined);
    // prom-client resets its event-loop histogram on every scrape: this one starts the scenario's window.
    await scrapeMetrics(stack);
  }
  const rss = new RssWatch(process_.proc.pid!);
  rss.start();
  const cpu = new CpuWatch({
    [isService ? 'service' : 'sdk baseline']: process_.proc.pid!,
    simulator: stack.sim.proc.pid!,
    prober: stack.prober.proc.pid!,
  });
  cpu.start();
  const probeStart: ProberCommand = {
    type: 'start',
    healthUrl: `${origin}/health/live`,
    healthPerSecond: isService ? PROBE_HEALTH_PER_SECOND : 0,
    simulator: {
      url: stack.simUrl,
      keyId: KEY_ID,
      privateKeyFile: stack.keyFile,
      sessions: opts.probeSimulatorSessions,
      perSecond: PROBE_SIMULATOR_PER_SECOND,
    },
  };
  stack.prober.proc.send(probeStart);

  const load = await runLoad({
    origin,
    items: opts.items,
    amount: opts.amount,
    connections: opts.connections,
    ...(opts.overallRate ? { overallRate: opts.overallRate } : {}),
    ...(opts.instances ? { instances: opts.instances } : {}),
    isOk: isService
      ? (status, location) => status === 303 && location?.startsWith(RESULT_PREFIX) === true
      : (status, location) => status === 303 && location?.startsWith('/result/') === true,
  });

  const cpuReport = cpu.stop();
  const probe = await ipcRequest<ProberReply>(stack.prober, { type: 'stop' }, 'result');
  const peakRssMb = rss.stopMb();
  const eld = isService
    ? await ipcRequest<{ report: EventLoopReport }>(process_, { type: 'eld-read' }, 'eld-report', 5_000)
    : undefined;
  const metricsText = isService ? await scrapeMetrics(stack) : null;
  const metricsLagSeconds = metricValue(metricsText, 'nodejs_eventloop_lag_p99_seconds');
  const mb = (name: string) => {
    const bytes = metricValue(metricsText, name);
    return bytes === null ? null : bytes / 2 ** 20;
  };
  const after = await simTotals(stack.simUrl);
  assertAlive(stack.sim, process_);

  const probeSimCalls = probe.simulator ? probe.simulator.count + probe.simulator.errors : 0;
  // The after-read opens one connection, the prober's direct client another.
  const newConnections = after.connections - before.connections - 1 - (probe.simulator ? 1 : 0);
  const completeCalls = after.completeCalls - before.completeCalls - probeSimCalls;
  const sim = probe.simulator;
  const simulatorOwnMs =
    sim && sim.count > 0 ? { p50: sim.p50Ms, p99: sim.p99Ms, p999: sim.p999Ms, samples: sim.count } : null;
  const result: ScenarioResult = {
    name: opts.name,
    target: opts.target,
    simulatorLatency: opts.simulatorLatency,
    connections: opts.connections,
    overallRate: opts.overallRate ?? null,
    requests: load.requests,
    seconds: load.seconds,
    throughputPerSecond: load.throughputPerSecond,
    latencyMs: load.latencyMs,
    simulatorOwnMs,
    serviceAddedMs: simulatorOwnMs
      ? {
          p50: load.latencyMs.p50 - simulatorOwnMs.p50,
          p99: load.latencyMs.p99 - simulatorOwnMs.p99,
          p999: load.latencyMs.p999 - simulatorOwnMs.p999,
        }
      : null,
    eventLoopDelayMs: eld
      ? {
          p50: eld.report.p50Ms,
          p99: eld.report.p99Ms,
          max: eld.report.maxMs,
          source: 'monitorEventLoopDelay in the service process (bench preload), 10 ms resolution subtracted',
        }
      : null,
    metricsEventLoopLagP99Ms: metricsLagSeconds === null ? null : metricsLagSeconds * 1000,
    memoryAfterMb: {
      rss: mb('process_resident_memory_bytes'),
      heapUsed: mb('nodejs_heap_size_used_bytes'),
      heapTotal: mb('nodejs_heap_size_total_bytes'),
      external: mb('nodejs_external_memory_bytes'),
    },
    peakRssMb,
    healthLive: isService ? probe.health : null,
    errors: load.errors,
    cpu: {
      msPerReturn: Object.fromEntries(
        Object.entries(cpuReport.perProcessMs).map(([name, ms]) => [
          name,
          load.requests > 0 ? ms / load.requests : 0,
        ]),
      ),
      machineBusyPercent: cpuReport.machineBusyPercent,
      otherProcessesPercent: cpuReport.otherProcessesPercent,
    },
    simulator: {
      newConnections,
      completeCalls,
      getCalls: after.getCalls - before.getCalls,
      completeCallsPerReturn: load.ok > 0 ? completeCalls / load.ok : 0,
    },
  };
  process.stdout.write(
    ` ${result.throughputPerSecond.toFixed(0)}/s, p99 ${result.latencyMs.p99.toFixed(0)} ms, errors ${result.errors.total}\n`,
  );
  return result;
}

async function returnItems(stack: Stack, count: number): Promise<LoadItem[]> {
  const [ids, cookies] = await Promise.all([
    createSimSessions(stack.simUrl, count),
    createBindings(stack.serviceUrl, count),
  ]);
  return ids.map((id, i) => ({ path: `${RETURN_PATH}?amazonCheckoutSessionId=${id}`, cookie: cookies[i]! }));
}

async function sdkItems(stack: Stack, count: number): Promise<LoadItem[]> {
  const ids = await createSimSessions(stack.simUrl, count);
  return ids.map((id) => ({ path: `/return?amazonCheckoutSessionId=${id}` }));
}

function startSimulator(port: number, publicKeyFile: string, latencyMs: number, jitterMs: number): Child {
  return spawnChild(
    'simulator',
    [
      '--import',
      './bench/child-guard.ts',
      'src/simulator/cli.ts',
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
      '--public-key',
      publicKeyFile,
      '--key-id',
      KEY_ID,
      '--latency-ms',
      String(latencyMs),
      '--jitter-ms',
      String(jitterMs),
    ],
    baseEnv({ NODE_ENV: 'development' }),
  );
}

function baseEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  // Nothing of the caller's environment leaks into the processes under test but what Node needs to run.
  const env: NodeJS.ProcessEnv = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'UV_THREADPOOL_SIZE']) {
    if (process.env[name] !== undefined) env[name] = process.env[name];
  }
  return { ...env, ...extra };
}

// ---------------------------------------------------------------------------------------------------------
// Report.

function fmt(value: number | null | undefined, digits = 1): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  return value.toFixed(digits);
}

function table(scenarios: ScenarioResult[]): string {
  const head = [
    'scenario',
    'sim latency',
    'conns',
    'req/s',
    'p50 ms',
    'p99 ms',
    'p99.9 ms',
    'sim own p50/p99 ms',
    'added p50/p99 ms',
    'ELD p99 ms (preload / metrics)',
    'health p99 ms',
    'peak RSS MB',
    'errors',
    'new sim conns',
    'CPU ms/return: target / sim / loadgen',
    'machine busy (others) %',
  ];
  const rows = scenarios.map((s) => [
    s.name,
    s.simulatorLatency,
    s.overallRate ? `${s.connections} @${s.overallRate}/s` : String(s.connections),
    fmt(s.throughputPerSecond, 0),
    fmt(s.latencyMs.p50, 0),
    fmt(s.latencyMs.p99, 0),
    fmt(s.latencyMs.p999, 0),
    s.simulatorOwnMs ? `${fmt(s.simulatorOwnMs.p50)} / ${fmt(s.simulatorOwnMs.p99)}` : '–',
    s.serviceAddedMs ? `${fmt(s.serviceAddedMs.p50)} / ${fmt(s.serviceAddedMs.p99)}` : '–',
    `${fmt(s.eventLoopDelayMs?.p99)} / ${fmt(s.metricsEventLoopLagP99Ms)}`,
    fmt(s.healthLive?.p99Ms),
    fmt(s.peakRssMb, 0),
    String(s.errors.total),
    String(s.simulator.newConnections),
    [s.target === 'service' ? 'service' : 'sdk baseline', 'simulator', 'load generator (bench)']
      .map((name) => fmt(s.cpu.msPerReturn[name], 2))
      .join(' / '),
    `${fmt(s.cpu.machineBusyPercent, 0)} (${fmt(s.cpu.otherProcessesPercent, 0)})`,
  ]);
  const lines = [head, head.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`);
  return lines.join('\n');
}

interface Target {
  target: string;
  value: string;
  met: boolean;
}

// ---------------------------------------------------------------------------------------------------------
// Main.

async function main(): Promise<void> {
  const startedAt = Date.now();
  const work = join(RESULTS_DIR, `work-${process.pid}`);
  rmSync(LOG_DIR, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  process.stdout.write(`Bench: ${command}\n`);

  try {
    // Raw limits first, while nothing else runs on the machine.
    process.stdout.write('  raw signing limit (RSA-2048 PSS, cached KeyObject, all cores)…');
    const signLimit = await runNodeJson<SignLimit>('bench/sign-limit.ts', ['3']);
    process.stdout.write(` ${signLimit.asyncPerSecond.toFixed(0)}/s\n`);
    process.stdout.write('  SQLite synchronous NORMAL vs FULL (store micro-benchmark)…');
    const storeSync = await runNodeJson<SyncLevelResult[]>('bench/store-sync.ts', [
      join(work, 'store-sync'),
      '2',
    ]);
    process.stdout.write(
      ` ${storeSync.map((r) => `${r.synchronous} ${r.completionsPerSecond.toFixed(0)}/s`).join(', ')}\n`,
    );

    // Keys: one pair for the whole run, the private half only readable by us (the service warns otherwise).
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keyFile = join(work, 'private.pem');
    const publicKeyFile = join(work, 'public.pem');
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(publicKeyFile, publicKey.export({ type: 'spki', format: 'pem' }));

    const [simPort, servicePort, sdkPort] = [await freePort(), await freePort(), await freePort()];
    const simUrl = `http://127.0.0.1:${simPort}`;
    const serviceUrl = `http://127.0.0.1:${servicePort}`;
    const sdkUrl = `http://127.0.0.1:${sdkPort}`;
    const metricsToken = randomBytes(24).toString('base64url');

    let sim = startSimulator(simPort, publicKeyFile, 0, 0);
    await waitFor(`${simUrl}/__sim/totals`, sim);
    const startService = (synchronous: 'NORMAL' | 'FULL', dbFile: string) =>
      spawnChild(
        'service',
        [
          ...(args['service-node-option'] ?? []),
          ...(args.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(RESULTS_DIR, 'profiles')}`] : []),
          '--import',
          './bench/child-guard.ts',
          'src/server.ts',
        ],
        // Production mode and the service's own defaults, but for the addresses, the key and the switches a
        // benchmark needs (rate limiting off, the simulator elsewhere).
        baseEnv({
          NODE_ENV: 'production',
          HOST: '127.0.0.1',
          PORT: String(servicePort),
          PUBLIC_BASE_URL: serviceUrl,
          LOG_LEVEL: LOG_LEVEL,
          DATABASE_URL: `sqlite:${dbFile}`,
          SQLITE_SYNCHRONOUS: synchronous,
          DATA_DIR: join(work, 'data'),
          COOKIE_SECRET: randomBytes(36).toString('base64url'),
          METRICS_TOKEN: metricsToken,
          RATE_LIMIT_MAX: '0',
          AMAZON_PAY_SIMULATOR: 'false',
          AMAZON_PAY_PUBLIC_KEY_ID: KEY_ID,
          AMAZON_PAY_PRIVATE_KEY_FILE: keyFile,
          AMAZON_PAY_MERCHANT_ID: 'BENCHMERCHANT',
          AMAZON_PAY_STORE_ID: 'amzn1.application-oa2-client.bench',
          AMAZON_PAY_API_BASE_URL: simUrl,
        }),
      );
    const service = startService('NORMAL', join(work, 'checkout.db'));
    const sdk = spawnChild(
      'sdk-baseline',
      [
        'bench/sdk-baseline.ts',
        '--port',
        String(sdkPort),
        '--simulator',
        simUrl,
        '--key-id',
        KEY_ID,
        '--private-key',
        keyFile,
      ],
      baseEnv({ NODE_ENV: 'production' }),
    );
    const prober = spawnChild('prober', ['bench/prober.ts'], baseEnv({}));
    await Promise.all([waitFor(`${serviceUrl}/health/ready`, service), waitFor(`${sdkUrl}/stats`, sdk)]);

    const stack: Stack = {
      simUrl,
      sim,
      serviceUrl,
      service,
      sdkUrl,
      sdk,
      prober,
      keyFile,
      metricsToken,
      hasMetrics: false,
    };
    stack.hasMetrics =
      metricValue(
        await scrapeMetrics({ ...stack, hasMetrics: true }).catch(() => null),
        'nodejs_eventloop_lag_p99_seconds',
      ) !== null;
    process.stdout.write(
      `  processes up (simulator ${simUrl}, service ${serviceUrl}, SDK baseline ${sdkUrl}); /metrics event-loop lag: ${stack.hasMetrics ? 'yes' : 'not exposed'}\n`,
    );
    const probeSessions = (count: number) => createSimSessions(stack.simUrl, count);
    const probeCount = Math.ceil(PROBE_SIMULATOR_PER_SECOND * SECONDS * 2.5);
    const scenarios: ScenarioResult[] = [];

    // Warm-up (JIT, SQLite cache, pool) and a throughput estimate that sizes the measured runs.
    const warm = await scenario(stack, {
      name: 'warm-up (not reported)',
      target: 'service',
      simulatorLatency: '0 ms',
      connections: CONNECTIONS,
      items: await returnItems(stack, 2_000 + CONNECTIONS),
      amount: 2_000,
      probeSimulatorSessions: [],
    });
    const size = (perSecond: number, seconds: number, connections: number) =>
      Math.max(connections * 4, Math.round(Math.min(perSecond * 1.3, 12_000) * seconds));

    // 1. Throughput with the simulator at 0 ms.
    const amountA = size(warm.throughputPerSecond, SECONDS, CONNECTIONS);
    const itemsA = await returnItems(stack, amountA + CONNECTIONS * 2);
    scenarios.push(
      await scenario(stack, {
        name: 'ours, max throughput',
        target: 'service',
        simulatorLatency: '0 ms',
        connections: CONNECTIONS,
        items: itemsA,
        amount: amountA,
        probeSimulatorSessions: await probeSessions(probeCount),
      }),
    );

    // 2. The SDK baseline, same simulator, same concurrency.
    const sdkWarm = await scenario(stack, {
      name: 'SDK warm-up (not reported)',
      target: 'sdk-baseline',
      simulatorLatency: '0 ms',
      connections: CONNECTIONS,
      items: await sdkItems(stack, 600 + CONNECTIONS),
      amount: 600,
      probeSimulatorSessions: [],
    });
    const amountSdk = size(sdkWarm.throughputPerSecond, SECONDS, CONNECTIONS);
    scenarios.push(
      await scenario(stack, {
        name: 'SDK baseline, max throughput',
        target: 'sdk-baseline',
        simulatorLatency: '0 ms',
        connections: CONNECTIONS,
        items: await sdkItems(stack, amountSdk + CONNECTIONS * 2),
        amount: amountSdk,
        probeSimulatorSessions: await probeSessions(probeCount),
      }),
    );

    // 3. A fixed arrival rate, far below saturation: the latency the service adds.
    const amountRate = Math.round(RATE * SECONDS);
    const rateConnections = Math.min(100, RATE);
    scenarios.push(
      await scenario(stack, {
        name: `ours, fixed ${RATE} req/s`,
        target: 'service',
        simulatorLatency: '0 ms',
        connections: rateConnections,
        overallRate: RATE,
        instances: RATE_INSTANCES,
        items: await returnItems(stack, amountRate + rateConnections * 2),
        amount: amountRate,
        probeSimulatorSessions: await probeSessions(probeCount),
      }),
    );

    // 4. A slow Amazon: ~INFLIGHT returns in flight, each waiting 150 ± 50 ms on the simulator.
    await stopChild(sim);
    sim = startSimulator(simPort, publicKeyFile, LATENCY_MS, JITTER_MS);
    stack.sim = sim;
    await waitFor(`${simUrl}/__sim/totals`, sim);
    const latencyLabel = `${LATENCY_MS} ± ${JITTER_MS} ms`;
    const ceiling = INFLIGHT / (LATENCY_MS / 1000);
    const amountSlow = Math.max(
      INFLIGHT * 3,
      Math.round(Math.min(ceiling, scenarios[0]!.throughputPerSecond * 1.2) * SECONDS * 1.2),
    );
    scenarios.push(
      await scenario(stack, {
        name: `ours, ~${INFLIGHT} in flight`,
        target: 'service',
        simulatorLatency: latencyLabel,
        connections: INFLIGHT,
        items: await returnItems(stack, amountSlow + INFLIGHT * 2),
        amount: amountSlow,
        probeSimulatorSessions: await probeSessions(probeCount),
      }),
    );

    // 5. The same max-throughput run with SQLITE_SYNCHRONOUS=FULL (fsync per commit), fresh database.
    await stopChild(stack.service);
    await stopChild(sim);
    sim = startSimulator(simPort, publicKeyFile, 0, 0);
    stack.sim = sim;
    stack.service = startService('FULL', join(work, 'checkout-full.db'));
    await Promise.all([
      waitFor(`${simUrl}/__sim/totals`, sim),
      waitFor(`${serviceUrl}/health/ready`, stack.service),
    ]);
    await scenario(stack, {
      name: 'warm-up FULL (not reported)',
      target: 'service',
      simulatorLatency: '0 ms',
      connections: CONNECTIONS,
      items: await returnItems(stack, 1_000 + CONNECTIONS),
      amount: 1_000,
      probeSimulatorSessions: [],
    });
    const amountFull = size(scenarios[0]!.throughputPerSecond, SECONDS, CONNECTIONS);
    scenarios.push(
      await scenario(stack, {
        name: 'ours, max throughput, SQLite FULL',
        target: 'service',
        simulatorLatency: '0 ms',
        connections: CONNECTIONS,
        items: await returnItems(stack, amountFull + CONNECTIONS * 2),
        amount: amountFull,
        probeSimulatorSessions: await probeSessions(probeCount),
      }),
    );

    await stopAll();

    // Ratios and targets.
    const ours = scenarios[0]!;
    const sdkResult = scenarios[1]!;
    const fixed = scenarios[2]!;
    const slow = scenarios[3]!;
    const full = scenarios[4]!;
    const fullOverNormal = full.throughputPerSecond / ours.throughputPerSecond;
    const oursOverSdk = ours.throughputPerSecond / sdkResult.throughputPerSecond;
    const oursOverSignLimit = ours.throughputPerSecond / signLimit.asyncPerSecond;
    const poolSize = CLIENT_DEFAULTS.connections;
    const targets: Target[] = [
      {
        target: 'throughput ≥ 2.5× SDK baseline',
        value: `${oursOverSdk.toFixed(2)}×`,
        met: oursOverSdk >= 2.5,
      },
      {
        target: 'throughput ≥ 50 % of raw signing limit',
        value: `${(oursOverSignLimit * 100).toFixed(0)} %`,
        met: oursOverSignLimit >= 0.5,
      },
      // Latency targets at a fixed arrival rate: a closed loop at saturation has latency = connections /
      // throughput by construction, so the max-throughput rows show queueing, not what the service adds.
      ...[fixed].flatMap((s) => [
        {
          target: `${s.name}: service-added p99 ≤ 10 ms`,
          value: `${fmt(s.serviceAddedMs?.p99)} ms`,
          met: (s.serviceAddedMs?.p99 ?? Number.POSITIVE_INFINITY) <= 10,
        },
        {
          target: `${s.name}: /health/live p99 ≤ 5 ms`,
          value: `${fmt(s.healthLive?.p99Ms)} ms`,
          met: (s.healthLive?.p99Ms ?? Number.POSITIVE_INFINITY) <= 5,
        },
        {
          target: `${s.name}: event-loop delay p99 ≤ 20 ms`,
          value: `${fmt(s.eventLoopDelayMs?.p99)} ms`,
          met: (s.eventLoopDelayMs?.p99 ?? Number.POSITIVE_INFINITY) <= 20,
        },
      ]),
      { target: `${slow.name}: 0 errors`, value: String(slow.errors.total), met: slow.errors.total === 0 },
      {
        target: `${slow.name}: peak RSS ≤ 300 MB`,
        value: `${fmt(slow.peakRssMb, 0)} MB`,
        met: slow.peakRssMb <= 300,
      },
      {
        target: 'every scenario: 0 errors',
        value: scenarios.map((s) => s.errors.total).join(' / '),
        met: scenarios.every((s) => s.errors.total === 0),
      },
      {
        target: `new connections to the simulator ≤ pool size (${poolSize}) per run`,
        value: scenarios
          .filter((s) => s.target === 'service')
          .map((s) => s.simulator.newConnections)
          .join(' / '),
        met: scenarios
          .filter((s) => s.target === 'service')
          .every((s) => s.simulator.newConnections <= poolSize),
      },
      {
        target: 'one Complete per return (exactly once), no Get',
        value: scenarios
          .filter((s) => s.target === 'service')
          .map((s) => `${s.simulator.completeCallsPerReturn.toFixed(3)}/${s.simulator.getCalls}`)
          .join(' / '),
        met: scenarios
          .filter((s) => s.target === 'service')
          .every(
            (s) => Math.abs(s.simulator.completeCallsPerReturn - 1) < 1e-9 && s.simulator.getCalls === 0,
          ),
      },
    ];

    const machine = {
      nproc: availableParallelism(),
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
      node: process.version,
      kernel: release(),
    };
    const summary = {
      generatedAt: new Date().toISOString(),
      command,
      wallSeconds: Math.round((Date.now() - startedAt) / 100) / 10,
      machine,
      settings: {
        seconds: SECONDS,
        logLevel: LOG_LEVEL,
        connections: CONNECTIONS,
        rate: RATE,
        inflight: INFLIGHT,
        simulatorLatency: latencyLabel,
        clientPoolConnections: poolSize,
        serviceNodeOptions: args['service-node-option'] ?? [],
        store: 'SQLite on disk, WAL; SQLITE_SYNCHRONOUS=NORMAL (the default) except in the FULL scenario',
      },
      signLimit,
      storeSync,
      scenarios,
      ratios: { oursOverSdk, oursOverSignLimit, sqliteFullOverNormal: fullOverNormal },
      targets,
    };
    writeFileSync(join(RESULTS_DIR, 'latest.json'), `${JSON.stringify(summary, null, 2)}\n`);

    const out: string[] = [
      '',
      `Machine: ${machine.nproc} cores, ${machine.cpuModel}, ${machine.memoryGiB} GiB, Node ${machine.node}`,
      '',
      table(scenarios),
      '',
      `Raw signing limit: ${signLimit.asyncPerSecond.toFixed(0)} signatures/s (async, ${signLimit.threadpoolSize} pool threads); one core sync: ${signLimit.syncOneCorePerSecond.toFixed(0)}/s`,
      `SQLite store, one return's writes: ${storeSync
        .map(
          (r) =>
            `${r.synchronous} ${r.completionsPerSecond.toFixed(0)}/s (blocking p50 ${fmt(r.blockP50Ms, 2)} / p99 ${fmt(r.blockP99Ms, 2)} ms)`,
        )
        .join('; ')}`,
      `Ratios: ours / SDK baseline = ${oursOverSdk.toFixed(2)}×; ours / raw signing limit = ${(oursOverSignLimit * 100).toFixed(0)} %; SQLite FULL / NORMAL end to end = ${fullOverNormal.toFixed(2)}×`,
      '',
      ...targets.map((t) => `${t.met ? 'MET   ' : 'MISSED'} ${t.target}: ${t.value}`),
      '',
      `Event-loop delay: ${stack.hasMetrics ? '/metrics nodejs_eventloop_lag_p99_seconds and ' : '/metrics does not expose it yet; '}monitorEventLoopDelay inside the service (bench preload, its 10 ms sampling interval subtracted; the /metrics figure includes prom-client's).`,
      `Summary: bench/results/latest.json (${summary.wallSeconds} s)`,
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    await stopAll();
    if (!args.keep) rmSync(work, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (err) {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  await stopAll();
  process.exitCode = 1;
}
