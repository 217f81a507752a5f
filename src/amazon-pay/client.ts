// The Amazon Pay API client: signed undici requests, a deadline per attempt, a budget per call, typed errors.
import { type KeyObject, webcrypto } from 'node:crypto';
import { setTimeout as sleepFor } from 'node:timers/promises';
import { Agent, type Dispatcher } from 'undici';
import { checkoutSessionPath, pathPrefix, REGION_HOSTS, type Region, resolveApiOrigin } from './endpoints.ts';
import {
  AmazonPayApiError,
  type AmazonPayError,
  AmazonPayInvalidResponseError,
  AmazonPayTimeoutError,
  AmazonPayTransportError,
  isRetryableStatus,
} from './errors.ts';
import { type CheckoutSession, checkoutSessionSchema, errorBodySchema } from './schemas.ts';
import {
  buildCanonicalRequest,
  buttonStringToSign,
  DEFAULT_ALGORITHM,
  formatAmzDate,
  formatAuthorization,
  isSigningAlgorithm,
  SIGNING_ALGORITHMS,
  type SigningAlgorithm,
  signStringAsync,
  stringToSign,
} from './signing.ts';
import {
  type AmazonPayApi,
  type AmazonPayResponse,
  type CallOptions,
  type CompleteOptions,
  IDEMPOTENCY_KEY_PATTERN,
} from './types.ts';

/**
 * Checkout session ids are UUIDs at Amazon; anything outside this set never reaches a URL path (no dots, so no
 * `..` segments, no percent signs, so the signed canonical URI equals the sent path byte for byte).
 */
export const CHECKOUT_SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
const SIMULATION_CODE_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** A checkout session is a few KiB; a larger body is not one, and reading it unbounded would cost memory. */
const MAX_RESPONSE_BYTES = 1024 * 1024;
/** Sleeping into a retry that has less time than this left could not finish; raise the last error instead. */
const MIN_ATTEMPT_MS = 100;

/** Failures that happen before a single byte of the request can have left this process. */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_FAIL',
  'EAI_NODATA',
  'EAI_NONAME',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
]);
/** The dispatcher refuses the request outright: retrying cannot help. */
const FATAL_CODES = new Set([
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
  'UND_ERR_INVALID_ARG',
  'UND_ERR_NOT_SUPPORTED',
]);

export type ClientOperation = 'complete' | 'get';
export type ClientEventOutcome = 'success' | 'api-error' | 'transport-error' | 'timeout' | 'invalid-response';

/** One HTTP attempt, for metrics and logs. Carries no buyer data and no session id by design. */
export interface ClientEvent {
  operation: ClientOperation;
  /** 1-based. */
  attempt: number;
  status?: number;
  outcome: ClientEventOutcome;
  durationMs: number;
  requestId?: string;
  /** The API error's reasonCode (Amazon's code, never its message). */
  reasonCode?: string;
  /** undici/Node error code of a transport failure. */
  errorCode?: string;
  willRetry: boolean;
  retryDelayMs?: number;
}

export interface AmazonPayClientOptions {
  publicKeyId: string;
  /** Parsed once at startup (`crypto.createPrivateKey`); re-parsing PEM per call halves signing throughput. */
  privateKey: KeyObject;
  region: Region;
  /** Only for legacy key ids; `LIVE-…`/`SANDBOX-…` ids imply the environment (protocol §1). */
  sandbox: boolean;
  algorithm?: SigningAlgorithm;
  /** Origin override (simulator, proxy), e.g. `http://127.0.0.1:4010`; paths are built as for Amazon. */
  apiBaseUrl?: string;
  /** An injected undici Agent/Pool/MockAgent; the client never closes it. */
  dispatcher?: Dispatcher;
  /** Sockets per origin of the client's own pool (ignored with `dispatcher`); see CLIENT_DEFAULTS.connections. */
  connections?: number;
  /** Idle time before a pooled socket is closed when the server sends no Keep-Alive hint (ignored with `dispatcher`). */
  keepAliveTimeoutMs?: number;
  /** Deadline of one attempt, from sending to the last body byte. */
  attemptTimeoutMs?: number;
  /** Bound on a whole call: every attempt and every backoff sleep. */
  budgetMs?: number;
  maxAttempts?: number;
  backoffBaseMs?: number;
  backoffCapMs?: number;
  random?: () => number;
  /** The clock for `x-amz-pay-date`. Elapsed time is measured with the monotonic clock regardless. */
  now?: () => Date;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Sent unsigned; other SDKs leave it unsigned as well. */
  userAgent?: string;
  onEvent?: (event: ClientEvent) => void;
}

export const CLIENT_DEFAULTS = {
  attemptTimeoutMs: 8_000,
  budgetMs: 20_000,
  maxAttempts: 4,
  backoffBaseMs: 200,
  backoffCapMs: 2_000,
  /**
   * Sockets per origin. Calls in flight are rate × latency (Little's law): 1,000 returns/s against a 150 ms
   * Amazon are 150 sockets, and a slow Amazon (1 s) at the same rate needs 1,000. A call beyond the cap waits
   * inside the pool, and that wait is spent from its attempt deadline, so a small cap turns a slow Amazon into
   * timeouts and ambiguous outcomes. The cap bounds sockets and memory (a few KiB per idle keep-alive socket);
   * with keep-alive, a bench run opens no more connections than calls it has in flight (bench/RESULTS.md).
   */
  connections: 1024,
  /**
   * Keep-alive idle time when the server sends no hint (undici follows a `Keep-Alive: timeout=` hint, less a
   * safety margin). Longer than undici's 4 s default so a pause between bursts does not cost every socket a new
   * TCP and TLS handshake; shorter than the usual 60 s idle timeout of load balancers.
   */
  keepAliveTimeoutMs: 30_000,
} as const;

/** `Retry-After` as delta-seconds or an HTTP date, in milliseconds from `now`; undefined when absent or unusable. */
export function parseRetryAfter(value: string | undefined, now: Date): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now.getTime());
}

interface PreparedCall {
  operation: ClientOperation;
  method: 'GET' | 'POST';
  path: string;
  /** Serialized once: the bytes hashed into the signature are the bytes sent, on every attempt. */
  body: string | undefined;
  idempotencyKey: string | undefined;
  simulationCode: string | undefined;
  signal: AbortSignal | undefined;
  budgetMs: number;
}

type AttemptResult =
  | { ok: true; status: number; data: CheckoutSession; requestId: string | undefined }
  | {
      ok: false;
      error: AmazonPayError;
      outcome: Exclude<ClientEventOutcome, 'success'>;
      status: number | undefined;
      requestId: string | undefined;
      /** Whether this loop may try again (not the same as `error.retryable`: a caller abort never retries). */
      retry: boolean;
      retryAfterMs: number | undefined;
    };

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`);
  return value;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

async function readBody(body: Dispatcher.ResponseData['body']): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    // Leaving the loop destroys the stream (and its connection): a body this large is not worth draining.
    if (size > MAX_RESPONSE_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export class AmazonPayClient implements AmazonPayApi {
  readonly publicKeyId: string;
  readonly algorithm: SigningAlgorithm;
  readonly region: Region;
  /** Where requests go: the region host or the `apiBaseUrl` override. */
  readonly origin: string;

  readonly #privateKey: KeyObject;
  /** The same key for WebCrypto, when it converts; see #sign. */
  readonly #cryptoKey: webcrypto.CryptoKey | undefined;
  readonly #pss: webcrypto.RsaPssParams;
  readonly #amzHost: string;
  readonly #prefix: string;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  #closed = false;
  readonly #attemptTimeoutMs: number;
  readonly #budgetMs: number;
  readonly #maxAttempts: number;
  readonly #backoffBaseMs: number;
  readonly #backoffCapMs: number;
  readonly #random: () => number;
  readonly #now: () => Date;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #userAgent: string;
  readonly #onEvent: ((event: ClientEvent) => void) | undefined;

  constructor(options: AmazonPayClientOptions) {
    if (!options.publicKeyId) throw new TypeError('publicKeyId is required');
    if (options.privateKey?.type !== 'private') throw new TypeError('privateKey must be a private KeyObject');
    if (!Object.hasOwn(REGION_HOSTS, options.region)) throw new TypeError('region must be na, eu or jp');
    const algorithm = options.algorithm ?? DEFAULT_ALGORITHM;
    if (!isSigningAlgorithm(algorithm)) throw new TypeError('unknown signing algorithm');

    this.publicKeyId = options.publicKeyId;
    this.algorithm = algorithm;
    this.region = options.region;
    this.#privateKey = options.privateKey;
    this.#pss = { name: 'RSA-PSS', saltLength: SIGNING_ALGORITHMS[algorithm].saltLength };
    try {
      this.#cryptoKey = options.privateKey.toCryptoKey({ name: 'RSA-PSS', hash: 'SHA-256' }, false, ['sign']);
    } catch {
      // A key WebCrypto will not take for RSA-PSS/SHA-256 (e.g. an rsa-pss key restricted otherwise) signs
      // through crypto.sign, as the startup self-test proved it can.
      this.#cryptoKey = undefined;
    }
    const { origin, amzHost } = resolveApiOrigin(options.region, options.apiBaseUrl);
    this.origin = origin;
    this.#amzHost = amzHost;
    this.#prefix = pathPrefix(options.publicKeyId, options.sandbox);

    this.#attemptTimeoutMs = positiveInt(
      'attemptTimeoutMs',
      options.attemptTimeoutMs ?? CLIENT_DEFAULTS.attemptTimeoutMs,
    );
    this.#budgetMs = positiveInt('budgetMs', options.budgetMs ?? CLIENT_DEFAULTS.budgetMs);
    this.#maxAttempts = positiveInt('maxAttempts', options.maxAttempts ?? CLIENT_DEFAULTS.maxAttempts);
    this.#backoffBaseMs = positiveInt(
      'backoffBaseMs',
      options.backoffBaseMs ?? CLIENT_DEFAULTS.backoffBaseMs,
    );
    this.#backoffCapMs = positiveInt('backoffCapMs', options.backoffCapMs ?? CLIENT_DEFAULTS.backoffCapMs);
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? (() => new Date());
    this.#sleep = options.sleep ?? ((ms, signal) => sleepFor(ms, undefined, { signal }));
    this.#userAgent = options.userAgent ?? `amazon-pay-checkout-return (Node.js ${process.version})`;
    this.#onEvent = options.onEvent;

    if (options.dispatcher) {
      this.#dispatcher = options.dispatcher;
      this.#ownsDispatcher = false;
    } else {
      // HTTP/1.1 on purpose: undici 8 would otherwise negotiate h2 via ALPN, and one h2 connection multiplexes
      // every call, so one stalled connection would stall them all. The cap bounds sockets per origin.
      this.#dispatcher = new Agent({
        connections: positiveInt('connections', options.connections ?? CLIENT_DEFAULTS.connections),
        keepAliveTimeout: positiveInt(
          'keepAliveTimeoutMs',
          options.keepAliveTimeoutMs ?? CLIENT_DEFAULTS.keepAliveTimeoutMs,
        ),
        allowH2: false,
      });
      this.#ownsDispatcher = true;
    }
  }

  async completeCheckoutSession(
    checkoutSessionId: string,
    body: Record<string, unknown> = {},
    options: CompleteOptions,
  ): Promise<AmazonPayResponse<CheckoutSession>> {
    if (!IDEMPOTENCY_KEY_PATTERN.test(options?.idempotencyKey ?? '')) {
      throw new TypeError('idempotencyKey must be 1-32 characters of [A-Za-z0-9_-]');
    }
    return this.#call({
      ...this.#prepare(options),
      operation: 'complete',
      method: 'POST',
      path: this.#sessionPath(checkoutSessionId, 'complete'),
      body: JSON.stringify(body),
      idempotencyKey: options.idempotencyKey,
    });
  }

  async getCheckoutSession(
    checkoutSessionId: string,
    options: CallOptions = {},
  ): Promise<AmazonPayResponse<CheckoutSession>> {
    return this.#call({
      ...this.#prepare(options),
      operation: 'get',
      method: 'GET',
      path: this.#sessionPath(checkoutSessionId),
      body: undefined,
      idempotencyKey: undefined,
    });
  }

  async signButtonPayload(payloadJson: string): Promise<string> {
    return signStringAsync(buttonStringToSign(this.algorithm, payloadJson), this.#privateKey, this.algorithm);
  }

  /**
   * RSA-PSS on libuv's thread pool either way. WebCrypto with a CryptoKey converted once costs the event loop
   * a third less per signature than crypto.sign's callback form, which re-prepares its key and options on every
   * call: 30 vs 45 µs of main-thread CPU (median of 8 × 2,000; bench/RESULTS.md). Same bytes, same scheme.
   */
  async #sign(text: string): Promise<string> {
    if (this.#cryptoKey === undefined) return signStringAsync(text, this.#privateKey, this.algorithm);
    const signature = await webcrypto.subtle.sign(this.#pss, this.#cryptoKey, Buffer.from(text, 'utf8'));
    return Buffer.from(signature).toString('base64');
  }

  /** Closes the connection pool this client created; an injected dispatcher belongs to its owner. */
  async close(): Promise<void> {
    if (!this.#ownsDispatcher || this.#closed) return;
    this.#closed = true;
    await this.#dispatcher.close();
  }

  #sessionPath(checkoutSessionId: string, action?: 'complete'): string {
    if (typeof checkoutSessionId !== 'string' || !CHECKOUT_SESSION_ID_PATTERN.test(checkoutSessionId)) {
      throw new TypeError('checkoutSessionId must be 1-128 characters of [A-Za-z0-9_-]');
    }
    return checkoutSessionPath(this.#prefix, checkoutSessionId, action);
  }

  #prepare(options: CallOptions): Pick<PreparedCall, 'simulationCode' | 'signal' | 'budgetMs'> {
    const { simulationCode, signal, budgetMs } = options;
    if (simulationCode !== undefined && !SIMULATION_CODE_PATTERN.test(simulationCode)) {
      throw new TypeError('simulationCode must be 1-64 characters of [A-Za-z0-9_-]');
    }
    return {
      simulationCode,
      signal,
      budgetMs: budgetMs === undefined ? this.#budgetMs : positiveInt('budgetMs', budgetMs),
    };
  }

  async #call(call: PreparedCall): Promise<AmazonPayResponse<CheckoutSession>> {
    const started = performance.now();
    const elapsed = () => performance.now() - started;
    let lastRequestId: string | undefined;
    let earlierAmbiguous = false;

    if (call.signal?.aborted) {
      const error = new AmazonPayTransportError('Amazon Pay call aborted before it started', {
        requestSent: false,
        code: 'ABORT_ERR',
        cause: call.signal.reason,
      });
      error.attempts = 0;
      throw error;
    }

    for (let attempt = 1; ; attempt++) {
      const attemptStarted = performance.now();
      // Whole milliseconds, at least one: the deadline timer of an attempt.
      const deadlineMs = Math.max(1, Math.floor(Math.min(this.#attemptTimeoutMs, call.budgetMs - elapsed())));
      const result = await this.#attempt(call, deadlineMs, deadlineMs < this.#attemptTimeoutMs);
      const durationMs = performance.now() - attemptStarted;
      lastRequestId = result.requestId ?? lastRequestId;

      if (result.ok) {
        this.#emit({
          operation: call.operation,
          attempt,
          status: result.status,
          outcome: 'success',
          durationMs,
          ...(result.requestId ? { requestId: result.requestId } : {}),
          willRetry: false,
        });
        return { data: result.data, status: result.status, requestId: result.requestId, attempts: attempt };
      }

      const { error } = result;
      let retryDelayMs: number | undefined;
      if (result.retry && attempt < this.#maxAttempts) {
        const delay = result.retryAfterMs ?? this.#backoff(attempt - 1);
        // Retry-After is the server's instruction: a delay that leaves no room for the next attempt means
        // giving up now with the real cause rather than sleeping into a timeout.
        if (delay + MIN_ATTEMPT_MS <= call.budgetMs - elapsed()) retryDelayMs = delay;
      }
      this.#emit({
        operation: call.operation,
        attempt,
        ...(result.status !== undefined ? { status: result.status } : {}),
        outcome: result.outcome,
        durationMs,
        ...(result.requestId ? { requestId: result.requestId } : {}),
        ...(error instanceof AmazonPayApiError ? { reasonCode: error.reasonCode } : {}),
        ...(error instanceof AmazonPayTransportError && error.code ? { errorCode: error.code } : {}),
        willRetry: retryDelayMs !== undefined,
        ...(retryDelayMs !== undefined ? { retryDelayMs } : {}),
      });

      // Ambiguity accumulates: after a timed-out first attempt, even a clean 429 on the last one cannot
      // prove that Amazon did not act, so the caller must read the outcome back.
      error.attempts = attempt;
      error.requestId = lastRequestId;
      error.earlierAttemptAmbiguous = earlierAmbiguous;
      if (retryDelayMs === undefined) throw error;
      earlierAmbiguous ||= error.ambiguous;

      try {
        await this.#sleep(retryDelayMs, call.signal);
      } catch {
        // The caller gave up while we waited; the last attempt's error says the most about where things stand.
        throw error;
      }
      if (call.signal?.aborted) throw error;
    }
  }

  #backoff(retryIndex: number): number {
    // Full jitter: spreads a burst of clients retrying after the same outage instead of re-synchronising them.
    return this.#random() * Math.min(this.#backoffCapMs, this.#backoffBaseMs * 2 ** retryIndex);
  }

  async #signedHeaders(call: PreparedCall): Promise<Record<string, string>> {
    // Re-signed for every attempt with a fresh date: Amazon rejects dates in the future and its accepted age
    // is undocumented, so a retry 15 s later must not carry a stale date. The idempotency key stays the same.
    const signed: Record<string, string> = {
      accept: 'application/json',
      'content-type': 'application/json',
      'x-amz-pay-date': formatAmzDate(this.#now()),
      'x-amz-pay-host': this.#amzHost,
      'x-amz-pay-region': this.region,
    };
    if (call.idempotencyKey !== undefined) signed['x-amz-pay-idempotency-key'] = call.idempotencyKey;
    const canonical = buildCanonicalRequest({
      method: call.method,
      path: call.path,
      headers: signed,
      payload: call.body ?? '',
    });
    const signature = await this.#sign(stringToSign(this.algorithm, canonical.text));
    const headers: Record<string, string> = {
      ...signed,
      authorization: formatAuthorization(
        this.algorithm,
        this.publicKeyId,
        canonical.signedHeaders,
        signature,
      ),
      'user-agent': this.#userAgent,
    };
    // Unsigned, as the PHP SDK and the SFCC cartridge send it (protocol §8).
    if (call.simulationCode !== undefined) headers['x-amz-pay-simulation-code'] = call.simulationCode;
    return headers;
  }

  async #attempt(call: PreparedCall, deadlineMs: number, budgetBound: boolean): Promise<AttemptResult> {
    const headers = await this.#signedHeaders(call);
    // One deadline for headers AND the whole body: undici's bodyTimeout only bounds the gap between chunks,
    // so a body trickling a byte a second would otherwise hold the buyer's redirect open indefinitely.
    // A plain controller and a timer cleared when the attempt ends, not AbortSignal.timeout + AbortSignal.any:
    // those leave a pending 8 s timer behind per call and register every attempt on the long-lived caller
    // (drain) signal; measured 11-34 µs per attempt, growing with the calls made, against 3-5 µs.
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new DOMException(`attempt deadline of ${deadlineMs} ms passed`, 'TimeoutError'));
    }, deadlineMs);
    const callerSignal = call.signal;
    const onCallerAbort = () => controller.abort(callerSignal?.reason);
    callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
    // The caller may have given up while the request was being signed: no listener fires for that any more.
    if (callerSignal?.aborted) onCallerAbort();
    let status: number | undefined;
    let requestId: string | undefined;
    let retryAfterMs: number | undefined;
    let text: string | undefined;
    try {
      const response = await this.#dispatcher.request({
        origin: this.origin,
        path: call.path,
        method: call.method,
        headers,
        body: call.body,
        signal: controller.signal,
      });
      status = response.statusCode;
      requestId = headerValue(response.headers['x-amz-pay-request-id']);
      retryAfterMs = parseRetryAfter(headerValue(response.headers['retry-after']), this.#now());
      text = await readBody(response.body);
    } catch (err) {
      return this.#failure(err, { call, timedOut, deadlineMs, budgetBound, status, requestId });
    } finally {
      clearTimeout(timer);
      callerSignal?.removeEventListener('abort', onCallerAbort);
    }

    if (status >= 200 && status < 300) return this.#parseSuccess(status, text, requestId);

    const parsedError = text === undefined ? undefined : safeJson(text);
    const errorBody = errorBodySchema.safeParse(parsedError);
    const error = new AmazonPayApiError(
      status,
      errorBody.success ? errorBody.data.reasonCode : `HttpStatus${status}`,
      errorBody.success ? errorBody.data.message : '',
      { requestId, retryAfterMs },
    );
    return {
      ok: false,
      error,
      outcome: 'api-error',
      status,
      requestId,
      retry: isRetryableStatus(status),
      retryAfterMs,
    };
  }

  #parseSuccess(status: number, text: string | undefined, requestId: string | undefined): AttemptResult {
    // Amazon acted on a 2xx, so an unreadable one is never retried: the caller reads the session back instead.
    const invalid = (message: string, cause?: unknown): AttemptResult => ({
      ok: false,
      error: new AmazonPayInvalidResponseError(message, status, { cause, requestId }),
      outcome: 'invalid-response',
      status,
      requestId,
      retry: false,
      retryAfterMs: undefined,
    });
    if (text === undefined) return invalid(`Amazon Pay ${status} body exceeds ${MAX_RESPONSE_BYTES} bytes`);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      return invalid(`Amazon Pay ${status} body is not JSON`, err);
    }
    const parsed = checkoutSessionSchema.safeParse(json);
    // The zod error names paths, not values, so no buyer data ends up in the message or the cause.
    if (!parsed.success) return invalid(`Amazon Pay ${status} body is not a checkout session`, parsed.error);
    return { ok: true, status, data: parsed.data, requestId };
  }

  #failure(
    err: unknown,
    ctx: {
      call: PreparedCall;
      /** The attempt's deadline timer fired. */
      timedOut: boolean;
      deadlineMs: number;
      budgetBound: boolean;
      status: number | undefined;
      requestId: string | undefined;
    },
  ): AttemptResult {
    const { call, status, requestId } = ctx;
    const base = { ok: false as const, status, requestId, retryAfterMs: undefined };
    if (call.signal?.aborted) {
      // We cannot know how far the request got, so the abort is reported as possibly sent.
      const error = new AmazonPayTransportError('Amazon Pay call aborted by the caller', {
        requestSent: true,
        code: 'ABORT_ERR',
        cause: call.signal.reason,
      });
      return { ...base, error, outcome: 'transport-error', retry: false };
    }
    const code = errorCode(err);
    if (ctx.timedOut || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
      const what = ctx.budgetBound ? 'the remaining call budget' : 'the attempt deadline';
      const error = new AmazonPayTimeoutError(
        `Amazon Pay did not answer within ${what} (${Math.round(ctx.deadlineMs)} ms)`,
        ctx.deadlineMs,
        { cause: err, requestId },
      );
      return { ...base, error, outcome: 'timeout', retry: true };
    }
    const fatal = code !== undefined && FATAL_CODES.has(code);
    // Once a status line arrived the request was certainly received; before that, only connect-phase failures
    // prove it never left. A reset or close after writing (UND_ERR_SOCKET, ECONNRESET) may follow Amazon acting.
    const neverLeft = code !== undefined && (NOT_SENT_CODES.has(code) || code.startsWith('ERR_TLS_'));
    const requestSent = status !== undefined || !(fatal || neverLeft);
    const message = err instanceof Error ? err.message : String(err);
    const error = new AmazonPayTransportError(`Amazon Pay connection failed: ${message}`, {
      requestSent,
      code,
      cause: err,
    });
    return { ...base, error, outcome: 'transport-error', retry: !fatal };
  }

  #emit(event: ClientEvent): void {
    if (!this.#onEvent) return;
    try {
      this.#onEvent(event);
    } catch {
      // Observability must never change the outcome of a payment call.
    }
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
