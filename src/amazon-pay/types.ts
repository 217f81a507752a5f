// The public surface of the Amazon Pay client: what the checkout service depends on (and tests may fake).
import type { CheckoutSession } from './schemas.ts';

export interface AmazonPayResponse<T> {
  data: T;
  /** HTTP status of the final answer (200, 202, …). */
  status: number;
  /** `x-amz-pay-request-id` from Amazon; quote it to Amazon support. */
  requestId: string | undefined;
  /** HTTP attempts made, retries included. */
  attempts: number;
}

export interface CallOptions {
  /** Aborts the whole call (all attempts), e.g. when the process drains. */
  signal?: AbortSignal;
  /** Sent unsigned as `x-amz-pay-simulation-code` (sandbox only; never used in production). */
  simulationCode?: string;
  /** Overrides the client's total budget for this call. */
  budgetMs?: number;
}

export interface CompleteOptions extends CallOptions {
  /** The same key on every attempt and every later call for this session: at most 32 of `[A-Za-z0-9_-]`. */
  idempotencyKey: string;
}

export interface AmazonPayApi {
  completeCheckoutSession(
    checkoutSessionId: string,
    body: Record<string, unknown>,
    options: CompleteOptions,
  ): Promise<AmazonPayResponse<CheckoutSession>>;
  getCheckoutSession(
    checkoutSessionId: string,
    options?: CallOptions,
  ): Promise<AmazonPayResponse<CheckoutSession>>;
  /** Base64 RSA-PSS signature of the exact payload string handed to `amazon.Pay.renderButton`. */
  signButtonPayload(payloadJson: string): Promise<string>;
  readonly algorithm: string;
  readonly publicKeyId: string;
}

export const IDEMPOTENCY_KEY_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
