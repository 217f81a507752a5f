// Errors of the Amazon Pay client, a small hierarchy by cause. Each says whether a retry may help and whether
// the request may already have taken effect at Amazon (ambiguous), which decides how the caller resolves it.

export type AmazonPayErrorKind = 'api' | 'transport' | 'timeout' | 'invalid-response';

export abstract class AmazonPayError extends Error {
  abstract readonly kind: AmazonPayErrorKind;
  /** A retry of the same request may succeed (408/425/429/5xx, network errors). */
  abstract readonly retryable: boolean;
  /** The request may have reached Amazon and taken effect; the outcome must be read back, never assumed. */
  abstract readonly ambiguous: boolean;
  /** How many HTTP attempts were made before this error was raised. */
  attempts = 1;
  /** `x-amz-pay-request-id` of the last response, when there was one. */
  requestId: string | undefined;
  /**
   * An earlier attempt of the same call may have reached Amazon (timeout, reset, 5xx), so even a clean final
   * answer such as a 429 cannot rule out that the operation already took effect.
   */
  earlierAttemptAmbiguous = false;

  constructor(message: string, options?: { cause?: unknown; requestId?: string | undefined }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.requestId = options?.requestId;
  }
}

const RETRYABLE_STATUSES = new Set([408, 425, 429, 500, 502, 503, 504]);

export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUSES.has(status) || status >= 500;
}

/** Amazon answered with an error body `{reasonCode, message}`. */
export class AmazonPayApiError extends AmazonPayError {
  readonly kind = 'api' as const;
  readonly status: number;
  readonly reasonCode: string;
  /** Amazon's own text: for logs only, never for buyers. */
  readonly amazonMessage: string;
  readonly retryAfterMs: number | undefined;

  constructor(
    status: number,
    reasonCode: string,
    amazonMessage: string,
    options?: { requestId?: string | undefined; retryAfterMs?: number | undefined },
  ) {
    super(`Amazon Pay answered ${status} ${reasonCode}`, { requestId: options?.requestId });
    this.status = status;
    this.reasonCode = reasonCode;
    this.amazonMessage = amazonMessage;
    this.retryAfterMs = options?.retryAfterMs;
  }

  get retryable(): boolean {
    return isRetryableStatus(this.status);
  }

  /**
   * A 5xx may come from a front end after the back end acted; InvalidCheckoutSessionStatus on Complete
   * typically means an earlier attempt already completed (or canceled) the session. Both must be read back.
   */
  get ambiguous(): boolean {
    return (
      this.status >= 500 || this.reasonCode === 'InvalidCheckoutSessionStatus' || this.earlierAttemptAmbiguous
    );
  }
}

/** The connection failed. `requestSent` says whether any of the request may have reached Amazon. */
export class AmazonPayTransportError extends AmazonPayError {
  readonly kind = 'transport' as const;
  readonly retryable = true;
  readonly requestSent: boolean;
  readonly code: string | undefined;

  constructor(
    message: string,
    options: { requestSent: boolean; code?: string | undefined; cause?: unknown },
  ) {
    super(message, { cause: options.cause });
    this.requestSent = options.requestSent;
    this.code = options.code;
  }

  get ambiguous(): boolean {
    return this.requestSent || this.earlierAttemptAmbiguous;
  }
}

/** The per-attempt deadline or the total budget ran out. The request may have been processed. */
export class AmazonPayTimeoutError extends AmazonPayError {
  readonly kind = 'timeout' as const;
  readonly retryable = true;
  readonly ambiguous = true;
  readonly timeoutMs: number;

  constructor(
    message: string,
    timeoutMs: number,
    options?: { cause?: unknown; requestId?: string | undefined },
  ) {
    super(message, options);
    this.timeoutMs = timeoutMs;
  }
}

/** A 2xx whose body is not JSON or not a checkout session: Amazon acted, we cannot tell on what. */
export class AmazonPayInvalidResponseError extends AmazonPayError {
  readonly kind = 'invalid-response' as const;
  readonly retryable = false;
  readonly ambiguous = true;
  readonly status: number;

  constructor(
    message: string,
    status: number,
    options?: { cause?: unknown; requestId?: string | undefined },
  ) {
    super(message, options);
    this.status = status;
  }
}
