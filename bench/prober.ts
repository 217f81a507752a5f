// Bench prober, its own small process so its timings do not queue behind the load generator: /health/live
// latency of the service, and the simulator's own service time from direct signed Complete calls, during load.
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Client } from 'undici';
import { checkoutSessionPath, pathPrefix } from '../src/amazon-pay/endpoints.ts';
import {
  buildCanonicalRequest,
  formatAmzDate,
  formatAuthorization,
  signStringAsync,
  stringToSign,
} from '../src/amazon-pay/signing.ts';
import { type ProbeStats, summarize } from './stats.ts';

export type ProberCommand =
  | {
      type: 'start';
      healthUrl: string;
      healthPerSecond: number;
      /** Direct signed Complete calls on these fresh sessions; none when empty. */
      simulator?: {
        url: string;
        keyId: string;
        privateKeyFile: string;
        sessions: string[];
        perSecond: number;
      };
    }
  | { type: 'stop' };

export type ProberReply = { type: 'result'; health: ProbeStats; simulator: ProbeStats | undefined };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** Sequential probes at a fixed pace; a slow probe delays the next one (the pace is a ceiling, not a promise). */
async function loop(perSecond: number, running: () => boolean, probe: () => Promise<void>): Promise<void> {
  const interval = 1000 / perSecond;
  let next = performance.now();
  while (running()) {
    await probe();
    next += interval;
    await sleep(next - performance.now());
  }
}

async function probeHealth(client: Client, path: string, samples: number[], fail: () => void): Promise<void> {
  const started = performance.now();
  try {
    const res = await client.request({ method: 'GET', path });
    await res.body.text();
    if (res.statusCode !== 200) fail();
    else samples.push(performance.now() - started);
  } catch {
    fail();
  }
}

async function signedComplete(
  keyId: string,
  key: KeyObject,
  host: string,
  id: string,
): Promise<{ path: string; headers: Record<string, string>; body: string }> {
  const path = checkoutSessionPath(pathPrefix(keyId, true), id, 'complete');
  const body = '{}';
  const signed: Record<string, string> = {
    accept: 'application/json',
    'content-type': 'application/json',
    'x-amz-pay-date': formatAmzDate(new Date()),
    'x-amz-pay-host': host,
    'x-amz-pay-region': 'na',
    'x-amz-pay-idempotency-key': id.replaceAll('-', '').slice(0, 32),
  };
  const canonical = buildCanonicalRequest({ method: 'POST', path, headers: signed, payload: body });
  const signature = await signStringAsync(
    stringToSign('AMZN-PAY-RSASSA-PSS-V2', canonical.text),
    key,
    'AMZN-PAY-RSASSA-PSS-V2',
  );
  const authorization = formatAuthorization(
    'AMZN-PAY-RSASSA-PSS-V2',
    keyId,
    canonical.signedHeaders,
    signature,
  );
  return { path, headers: { ...signed, authorization }, body };
}

async function run(command: Extract<ProberCommand, { type: 'start' }>, running: () => boolean) {
  const healthUrl = new URL(command.healthUrl);
  const healthClient = new Client(healthUrl.origin);
  const health: number[] = [];
  let healthErrors = 0;
  const tasks: Promise<void>[] = [];
  if (command.healthPerSecond > 0) {
    tasks.push(
      loop(command.healthPerSecond, running, () =>
        probeHealth(healthClient, healthUrl.pathname, health, () => {
          healthErrors += 1;
        }),
      ),
    );
  }

  const sim = command.simulator;
  const simSamples: number[] = [];
  let simErrors = 0;
  let simClient: Client | undefined;
  if (sim && sim.sessions.length > 0) {
    const key = createPrivateKey(readFileSync(sim.privateKeyFile));
    const url = new URL(sim.url);
    simClient = new Client(url.origin);
    const client = simClient;
    const sessions = [...sim.sessions];
    tasks.push(
      loop(
        sim.perSecond,
        () => running() && sessions.length > 0,
        async () => {
          const id = sessions.shift()!;
          // Signed before the clock starts: what is timed is the simulator's answer, as the service sees it.
          const request = await signedComplete(sim.keyId, key, url.hostname, id);
          const started = performance.now();
          try {
            const res = await client.request({ method: 'POST', ...request });
            await res.body.text();
            if (res.statusCode !== 200) simErrors += 1;
            else simSamples.push(performance.now() - started);
          } catch {
            simErrors += 1;
          }
        },
      ),
    );
  }
  await Promise.all(tasks);
  await healthClient.close();
  await simClient?.close();
  return {
    health: summarize(health, healthErrors),
    simulator: simClient ? summarize(simSamples, simErrors) : undefined,
  };
}

if (process.send) {
  let active = false;
  let done: Promise<Omit<ProberReply, 'type'>> | undefined;
  process.on('message', (command: ProberCommand) => {
    if (command.type === 'start') {
      active = true;
      done = run(command, () => active);
    } else if (command.type === 'stop') {
      active = false;
      void done?.then((result) => process.send?.({ type: 'result', ...result } satisfies ProberReply));
    }
  });
  process.on('disconnect', () => process.exit(0));
}
