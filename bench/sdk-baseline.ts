// Bench baseline: the minimal return handler a merchant would write with the official Amazon Pay Node SDK, in its
// own process (the SDK's URL override switches TLS verification off process-wide). Usage: see bench/run.ts.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

interface SdkConfig {
  publicKeyId: string;
  privateKey: string | Buffer;
  region: string;
  sandbox: boolean;
  algorithm: string;
  overrideServiceUrl: string;
}
interface SdkResponse {
  status: number;
  data: { statusDetails?: { state?: string }; chargePermissionId?: string };
}
interface WebStoreClient {
  completeCheckoutSession(
    checkoutSessionId: string,
    payload: object,
    headers: Record<string, string>,
  ): Promise<SdkResponse>;
}
interface AxiosConfig {
  url?: string;
}
interface Axios {
  interceptors: { request: { use(fn: (config: AxiosConfig) => AxiosConfig): void } };
}

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    simulator: { type: 'string' },
    'key-id': { type: 'string' },
    'private-key': { type: 'string' },
  },
});
if (!values.port || !values.simulator || !values['key-id'] || !values['private-key']) {
  process.stderr.write(
    'Usage: node bench/sdk-baseline.ts --port N --simulator http://127.0.0.1:P --key-id ID --private-key file.pem\n',
  );
  process.exit(2);
}
const simulator = new URL(values.simulator);

const require = createRequire(import.meta.url);
const sdkEntry = require.resolve('@amazonpay/amazon-pay-api-sdk-nodejs');
const { WebStoreClient } = require(sdkEntry) as { WebStoreClient: new (config: SdkConfig) => WebStoreClient };
// The SDK's `overrideServiceUrl` is a host[:port] that it always prefixes with https:// (and it sets
// NODE_TLS_REJECT_UNAUTHORIZED=0 for it). The simulator speaks plain HTTP on loopback, so the SDK's own axios
// instance gets one interceptor that swaps the scheme; everything else (signing, headers, retries) is the SDK's.
const sdkAxios = createRequire(sdkEntry)('axios') as Axios;
const httpsPrefix = `https://${simulator.host}/`;
sdkAxios.interceptors.request.use((config) => {
  if (config.url?.startsWith(httpsPrefix))
    config.url = `http://${simulator.host}/${config.url.slice(httpsPrefix.length)}`;
  return config;
});

// As the SDK's README shows it: the PEM text in the config, parsed again by every signature.
const client = new WebStoreClient({
  publicKeyId: values['key-id'],
  privateKey: readFileSync(values['private-key']),
  region: 'na',
  sandbox: true,
  algorithm: 'AMZN-PAY-RSASSA-PSS-V2',
  overrideServiceUrl: simulator.host,
});

// Outcomes kept in memory: the baseline stores nothing durable.
const outcomes = new Map<string, string | null>();
let failures = 0;

const server = createServer({ keepAliveTimeout: 72_000 }, (req, res) => {
  const url = new URL(req.url ?? '/', 'http://baseline');
  const id = url.searchParams.get('amazonCheckoutSessionId');
  if (url.pathname === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ outcomes: outcomes.size, failures }));
    return;
  }
  if (url.pathname !== '/return' || !id) {
    res.writeHead(404).end();
    return;
  }
  const idempotencyKey = createHash('sha256').update(id).digest('base64url').slice(0, 32);
  client
    .completeCheckoutSession(id, {}, { 'x-amz-pay-idempotency-key': idempotencyKey })
    .then((response) => {
      outcomes.set(id, response.data.chargePermissionId ?? null);
      res.writeHead(303, { location: `/result/${id}`, 'content-length': 0 }).end();
    })
    .catch(() => {
      failures += 1;
      res.writeHead(303, { location: '/start?error=not-successful', 'content-length': 0 }).end();
    });
});

server.listen(Number(values.port), '127.0.0.1', () => {
  process.stdout.write(`sdk baseline listening on http://127.0.0.1:${values.port}\n`);
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
// Spawned with an IPC channel: exit with the bench, however it ends.
process.on('disconnect', () => process.exit(0));
process.channel?.unref();
