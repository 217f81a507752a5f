// The Amazon Pay simulator: a local node:http stand-in for Complete/Get Checkout Session with Amazon's signing,
// states, error bodies and idempotency, plus fault injection, a control API and the hosted sign-in page.
import type { KeyObject } from 'node:crypto';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { QueryParams } from '../amazon-pay/signing.ts';
import { sha256Hex } from '../amazon-pay/signing.ts';
import { IDEMPOTENCY_KEY_PATTERN } from '../amazon-pay/types.ts';
import { authenticate } from './auth.ts';
import { handleControlApi } from './control.ts';
import {
  type FaultOperation,
  FaultQueue,
  type FaultSpec,
  processesFirst,
  statusFaultBody,
} from './faults.ts';
import { createHostedPage, isHostedPagePath } from './hosted-page.ts';
import {
  type CreateSessionInput,
  type FailureReason,
  renderSession,
  type SessionOutcome,
  type SessionRecord,
  type SessionState,
  SessionStore,
} from './sessions.ts';

export type { FaultSpec } from './faults.ts';
export type { BuyerData, CreateSessionInput, SessionOutcome, SimAddress } from './sessions.ts';

export interface SimulatorOptions {
  /** publicKeyId → public key. Requests signed with any other key id get 403 InvalidAuthentication. */
  publicKeys: Record<string, KeyObject>;
  host?: string;
  port?: number;
  /** Injectable wall clock (epoch ms); default Date.now. */
  now?: () => number;
  /** How old an x-amz-pay-date may be (default 15 min; Amazon's window is UNCONFIRMED, protocol sheet §2.4). */
  maxClockSkewMs?: number;
  /** How far an x-amz-pay-date may lie in the future (default 60 s). */
  maxFutureSkewMs?: number;
  /** HTTP control API under /__sim (default true). */
  controlApi?: boolean;
  /** Base latency of every API call, before it is processed. */
  latencyMs?: number | { meanMs: number; jitterMs: number };
}

export interface SessionStats {
  /** Authenticated Complete requests for this id, faulted and replayed ones included. */
  completeCalls: number;
  getCalls: number;
  /** Complete calls that moved the session out of Open (exactly-once tests assert 1). */
  completeOutcomes: number;
  /** Distinct valid idempotency keys seen on Complete, in order of first use. */
  idempotencyKeys: string[];
  /** Amazon's state, or `Deleted` (past 30 days) / `NotFound` (never created). */
  state: SessionState | 'Deleted' | 'NotFound';
  reasonCode: string | null;
  chargePermissionId: string | null;
}

export interface SimulatorTotals {
  completeCalls: number;
  getCalls: number;
  /** TCP connections accepted. */
  connections: number;
}

export interface Simulator {
  readonly url: string;
  createSession(input?: CreateSessionInput): { checkoutSessionId: string };
  injectFault(fault: FaultSpec): void;
  clearFaults(): void;
  stats(checkoutSessionId: string): SessionStats;
  totals(): SimulatorTotals;
  /** Ages sessions (expiry, deletion). The x-amz-pay-date check keeps using the unshifted clock. */
  advanceClock(ms: number): void;
  /** The simulator's notion of now (epoch ms), advanceClock offsets included. */
  now(): number;
  close(): Promise<void>;
}

interface Reply {
  status: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
  /** The session the operation acted on, for faults that rewrite the answer. */
  record?: SessionRecord | undefined;
}

interface MutableStats {
  completeCalls: number;
  getCalls: number;
  completeOutcomes: number;
  idempotencyKeys: Set<string>;
  created: boolean;
}

interface StoredIdempotentResponse {
  fingerprint: string;
  status: number;
  body: Record<string, unknown>;
}

const MAX_BODY_BYTES = 1024 * 1024;
const API_ROUTE = /^(?:\/(sandbox|live))?\/v2\/checkoutSessions\/([^/]+)(\/complete)?\/?$/;
const SIMULATION_CODES = new Set<string>([
  'BuyerCanceled',
  'AmazonCanceled',
  'Declined',
  'AmazonRejected',
  'ProcessingFailure',
]);

export function assertNotProduction(): void {
  if (process.env.NODE_ENV === 'production') {
    throw new Error('The Amazon Pay simulator never runs with NODE_ENV=production');
  }
}

function amazonError(status: number, reasonCode: string, message: string): Reply {
  return { status, body: { reasonCode, message } };
}

function splitUrl(url: string): { rawPath: string; rawQuery: string } {
  const q = url.indexOf('?');
  return q < 0 ? { rawPath: url, rawQuery: '' } : { rawPath: url.slice(0, q), rawQuery: url.slice(q + 1) };
}

function parseQuery(rawQuery: string): QueryParams {
  const out: Record<string, string[]> = {};
  for (const [name, value] of new URLSearchParams(rawQuery)) {
    out[name] = [...(out[name] ?? []), value];
  }
  return out;
}

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startSimulator(opts: SimulatorOptions): Promise<Simulator> {
  assertNotProduction();
  const wallClock = opts.now ?? Date.now;
  let offsetMs = 0;
  const simNow = () => wallClock() + offsetMs;
  const maxAgeMs = opts.maxClockSkewMs ?? 15 * 60_000;
  const maxFutureMs = opts.maxFutureSkewMs ?? 60_000;
  const store = new SessionStore();
  const faults = new FaultQueue();
  const idempotency = new Map<string, StoredIdempotentResponse>();
  const perSession = new Map<string, MutableStats>();
  const totals: SimulatorTotals = { completeCalls: 0, getCalls: 0, connections: 0 };
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  let closed = false;

  const statsFor = (id: string): MutableStats => {
    let s = perSession.get(id);
    if (!s) {
      s = { completeCalls: 0, getCalls: 0, completeOutcomes: 0, idempotencyKeys: new Set(), created: false };
      perSession.set(id, s);
    }
    return s;
  };

  // Timers are tracked so close() never waits for a slow fault; a cleared delay simply never resolves.
  const delay = (ms: number) =>
    new Promise<void>((resolve) => {
      if (ms <= 0 || closed) {
        if (!closed) resolve();
        return;
      }
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  const baseLatency = (): number => {
    const l = opts.latencyMs;
    if (l === undefined) return 0;
    if (typeof l === 'number') return l;
    return Math.max(0, l.meanMs + (Math.random() * 2 - 1) * l.jitterMs);
  };

  function send(res: ServerResponse, reply: Reply): void {
    if (res.destroyed || res.headersSent) return;
    const text = JSON.stringify(reply.body);
    res.writeHead(reply.status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      ...reply.headers,
    });
    res.end(text);
  }

  function createSession(input: CreateSessionInput = {}): { checkoutSessionId: string } {
    const record = store.create(input, simNow());
    statsFor(record.id).created = true;
    return { checkoutSessionId: record.id };
  }

  function complete(id: string, req: IncomingMessage, body: Buffer): Reply {
    const key = req.headersDistinct['x-amz-pay-idempotency-key']?.[0];
    // Protocol sheet §2.7: at most 32 characters of [A-Za-z0-9_-].
    if (key !== undefined && !IDEMPOTENCY_KEY_PATTERN.test(key)) {
      return amazonError(
        400,
        'InvalidHeaderValue',
        `The value ${key} provided for x-amz-pay-idempotency-key is invalid`,
      );
    }
    // Protocol sheet §8: the sandbox simulation string overrides the outcome; an unknown one is rejected.
    const simulationCode = req.headersDistinct['x-amz-pay-simulation-code']?.[0];
    if (simulationCode !== undefined && !SIMULATION_CODES.has(simulationCode)) {
      return amazonError(
        400,
        'InvalidSandboxSimulationSpecified',
        `The simulation code ${simulationCode} is not valid for Complete Checkout Session`,
      );
    }
    // Protocol sheet §2.6: the saved-wallet body is `{}`; an absent body is not relied on, so it is refused.
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      return amazonError(400, 'InvalidRequestFormat', 'The request body must be a JSON object');
    }
    if (key !== undefined) {
      statsFor(id).idempotencyKeys.add(key);
      // Protocol sheet §2.7: the first response per key is stored and replayed for the same request; the
      // same key with different values is DuplicateIdempotencyKey.
      const fingerprint = `complete ${id} ${sha256Hex(body)}`;
      const stored = idempotency.get(key);
      if (stored) {
        if (stored.fingerprint !== fingerprint) {
          return amazonError(
            400,
            'DuplicateIdempotencyKey',
            'The idempotency key was already used for a request with different values',
          );
        }
        return { status: stored.status, body: stored.body, record: store.get(id, simNow()) };
      }
      const reply = completeOnce(id, simulationCode as FailureReason | undefined);
      if (reply.status !== 404) idempotency.set(key, { fingerprint, status: reply.status, body: reply.body });
      return reply;
    }
    return completeOnce(id, simulationCode as FailureReason | undefined);
  }

  function completeOnce(id: string, simulationCode: FailureReason | undefined): Reply {
    const record = store.get(id, simNow());
    if (!record) return amazonError(404, 'ResourceNotFound', `Checkout Session ${id} was not found`);
    // Peers §0 / protocol sheet §5.3: only an Open session can be completed; Completed, Canceled and
    // Expired (Canceled after 24 h) sessions answer 422 InvalidCheckoutSessionStatus.
    if (record.state !== 'Open') {
      return {
        ...amazonError(
          422,
          'InvalidCheckoutSessionStatus',
          'You tried to call an operation on a Checkout Session that is in a state where that operation is not allowed',
        ),
        record,
      };
    }
    const outcome: SessionOutcome = simulationCode ?? record.outcome;
    store.complete(record, outcome, simNow());
    statsFor(id).completeOutcomes += 1;
    if (outcome === 'success') return { status: 200, body: renderSession(record), record };
    // Protocol sheet §5.3: the observed body of a canceled or declined checkout (422 per the JP list).
    return {
      ...amazonError(
        422,
        'CheckoutSessionCanceled',
        'Checkout was unsuccessful because the buyer cancelled the transaction or payment was declined',
      ),
      record,
    };
  }

  function get(id: string): Reply {
    const record = store.get(id, simNow());
    if (!record) return amazonError(404, 'ResourceNotFound', `Checkout Session ${id} was not found`);
    return { status: 200, body: renderSession(record), record };
  }

  // Writes the answer as the fault dictates; the operation (if any) has already run.
  function answerWithFault(
    res: ServerResponse,
    fault: FaultSpec,
    reply: Reply | undefined,
    id: string,
  ): void {
    switch (fault.kind) {
      case 'status':
        send(res, {
          status: fault.status,
          body: statusFaultBody(fault.status, fault.reasonCode),
          headers:
            fault.retryAfterSeconds === undefined ? {} : { 'retry-after': String(fault.retryAfterSeconds) },
        });
        return;
      case 'reset':
        res.socket?.resetAndDestroy();
        return;
      case 'hang':
        // Never answered; close() destroys the socket.
        return;
      case 'invalid-json': {
        const text = `{"checkoutSessionId":${JSON.stringify(id)},"statusDetails":{"state":"Compl`;
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
        return;
      }
      case 'unexpected-state': {
        const body: Record<string, unknown> = reply?.record
          ? renderSession(reply.record)
          : { checkoutSessionId: id, statusDetails: {} };
        body.statusDetails = { ...(body.statusDetails as object), state: fault.state };
        send(res, { status: 200, body });
        return;
      }
      case 'truncated-body': {
        const text = Buffer.from(JSON.stringify(reply?.body ?? {}));
        res.writeHead(reply?.status ?? 200, {
          'content-type': 'application/json',
          'content-length': text.length,
        });
        res.write(text.subarray(0, Math.floor(text.length / 2)), () => res.socket?.destroy());
        return;
      }
      case 'slow-body': {
        const text = Buffer.from(JSON.stringify(reply?.body ?? {}));
        res.writeHead(reply?.status ?? 200, {
          'content-type': 'application/json',
          'content-length': text.length,
        });
        const pieces = Math.max(1, Math.min(20, text.length));
        const size = Math.ceil(text.length / pieces);
        const step = fault.durationMs / pieces;
        void (async () => {
          for (let i = 0; i < pieces; i++) {
            if (res.destroyed) return;
            res.write(text.subarray(i * size, (i + 1) * size));
            await delay(step);
          }
          res.end();
        })();
        return;
      }
      case 'slow-headers':
        void delay(fault.ms).then(() => reply && send(res, reply));
        return;
      case 'latency':
        if (reply) send(res, reply);
        return;
    }
  }

  async function handleApi(
    req: IncomingMessage,
    res: ServerResponse,
    rawPath: string,
    rawQuery: string,
    body: Buffer,
  ): Promise<void> {
    const match = API_ROUTE.exec(rawPath);
    if (!match) {
      send(res, amazonError(404, 'ResourceNotFound', 'The requested resource was not found'));
      return;
    }
    let id: string;
    try {
      id = decodeURIComponent(match[2]!);
    } catch {
      send(res, amazonError(400, 'InvalidParameterValue', 'The checkout session id is invalid'));
      return;
    }
    const operation: FaultOperation | undefined =
      match[3] && req.method === 'POST' ? 'complete' : !match[3] && req.method === 'GET' ? 'get' : undefined;
    if (!operation) {
      send(res, amazonError(405, 'UnsupportedOperation', `${req.method} is not supported on this resource`));
      return;
    }
    const result = authenticate(
      { method: req.method!, rawPath, query: parseQuery(rawQuery), headers: req.headersDistinct, body },
      { publicKeys: opts.publicKeys, now: wallClock(), maxAgeMs, maxFutureMs },
    );
    if (!result.ok) {
      send(res, amazonError(result.error.status, result.error.reasonCode, result.error.message));
      return;
    }

    const s = statsFor(id);
    if (operation === 'complete') {
      s.completeCalls += 1;
      totals.completeCalls += 1;
    } else {
      s.getCalls += 1;
      totals.getCalls += 1;
    }
    // Faults are taken at arrival (FIFO), after signature verification.
    const fault = faults.take(operation, id);
    await delay(baseLatency());
    if (fault?.kind === 'latency') await delay(fault.ms);
    if (closed) return;

    const run = () => (operation === 'complete' ? complete(id, req, body) : get(id));
    if (!fault || fault.kind === 'latency') {
      send(res, run());
      return;
    }
    const reply = processesFirst(fault) ? run() : undefined;
    answerWithFault(res, fault, reply, id);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('x-amz-pay-request-id', randomUUID());
    const { rawPath, rawQuery } = splitUrl(req.url ?? '/');
    const body = await readBody(req);
    if (body === undefined) {
      send(res, amazonError(413, 'InvalidRequestFormat', 'The request body is too large'));
      return;
    }
    if (rawPath === '/__sim' || rawPath.startsWith('/__sim/')) {
      if (opts.controlApi === false) {
        send(res, amazonError(404, 'ResourceNotFound', 'The requested resource was not found'));
        return;
      }
      send(res, handleControlApi(simulator, req.method ?? 'GET', rawPath, body));
      return;
    }
    if (isHostedPagePath(rawPath)) {
      hostedPage.handle(req, res, rawPath, rawQuery, body);
      return;
    }
    await handleApi(req, res, rawPath, rawQuery, body);
  }

  const hostedPage = createHostedPage({ publicKeys: opts.publicKeys, createSession, now: simNow });

  const server = createServer({ keepAliveTimeout: 5_000 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      send(res, amazonError(500, 'InternalServerError', `Simulator error: ${(err as Error).message}`));
    });
  });
  server.on('connection', (socket: Socket) => {
    totals.connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('simulator: no TCP address');
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  const simulator: Simulator = {
    url: `http://${host}:${address.port}`,
    createSession,
    injectFault: (fault) => faults.add(fault),
    clearFaults: () => {
      faults.clear();
    },
    stats(checkoutSessionId) {
      const s = perSession.get(checkoutSessionId);
      const record = store.get(checkoutSessionId, simNow());
      return {
        completeCalls: s?.completeCalls ?? 0,
        getCalls: s?.getCalls ?? 0,
        completeOutcomes: s?.completeOutcomes ?? 0,
        idempotencyKeys: [...(s?.idempotencyKeys ?? [])],
        state: record?.state ?? (s?.created ? 'Deleted' : 'NotFound'),
        reasonCode: record?.reasonCode ?? null,
        chargePermissionId: record?.chargePermissionId ?? null,
      };
    },
    totals: () => ({ ...totals }),
    advanceClock(ms) {
      offsetMs += ms;
    },
    now: simNow,
    async close() {
      if (closed) return;
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      server.closeAllConnections();
      await done;
    },
  };
  return simulator;
}
