// Standalone entry for the Amazon Pay simulator: `node src/simulator/cli.ts --port 4010 --public-key k.pem --key-id ID`.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { assertNotProduction, startSimulator } from './index.ts';

const USAGE = `Usage: node src/simulator/cli.ts --public-key <pem> --key-id <id> [--public-key … --key-id …]
       [--port 4010] [--host 127.0.0.1] [--latency-ms 0] [--jitter-ms 0] [--no-control-api]`;

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

try {
  assertNotProduction();
} catch (err) {
  fail((err as Error).message);
}

let values: ReturnType<typeof parse>['values'];
function parse() {
  return parseArgs({
    options: {
      port: { type: 'string', default: '4010' },
      host: { type: 'string', default: '127.0.0.1' },
      'public-key': { type: 'string', multiple: true },
      'key-id': { type: 'string', multiple: true },
      'latency-ms': { type: 'string', default: '0' },
      'jitter-ms': { type: 'string', default: '0' },
      'no-control-api': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
}
try {
  values = parse().values;
} catch (err) {
  fail((err as Error).message);
}
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

const keyFiles = values['public-key'] ?? [];
const keyIds = values['key-id'] ?? [];
if (keyFiles.length === 0 || keyFiles.length !== keyIds.length) {
  fail('Give one --key-id for every --public-key (at least one pair).');
}
const publicKeys: Record<string, KeyObject> = {};
keyFiles.forEach((file, i) => {
  try {
    // A private key file works too: its public half is derived.
    publicKeys[keyIds[i]!] = createPublicKey(readFileSync(file));
  } catch (err) {
    fail(`Cannot read a public key from ${file}: ${(err as Error).message}`);
  }
});

const port = Number(values.port);
const meanMs = Number(values['latency-ms']);
const jitterMs = Number(values['jitter-ms']);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`Invalid --port ${values.port}`);
if (!(meanMs >= 0) || !(jitterMs >= 0)) fail('Invalid --latency-ms / --jitter-ms');

const sim = await startSimulator({
  publicKeys,
  host: values.host,
  port,
  controlApi: !values['no-control-api'],
  latencyMs: { meanMs, jitterMs },
});
process.stdout.write(
  `Amazon Pay simulator listening on ${sim.url} (key ids: ${Object.keys(publicKeys).join(', ')})\n` +
    `Hosted sign-in page: ${sim.url}/checkout/sign-in${values['no-control-api'] ? '' : `; control API: ${sim.url}/__sim`}\n`,
);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    void sim.close().then(() => process.exit(0));
  });
}
