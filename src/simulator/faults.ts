// Fault injection for the simulator: a FIFO queue of faults that matching API requests consume in order.
import { z } from 'zod';

export type FaultOperation = 'complete' | 'get';

const common = {
  operation: z.enum(['complete', 'get', 'any']).optional(),
  checkoutSessionId: z.string().min(1).optional(),
  times: z.number().int().positive().optional(),
};

export const faultSpecSchema = z.discriminatedUnion('kind', [
  z.strictObject({ ...common, kind: z.literal('latency'), ms: z.number().nonnegative() }),
  z.strictObject({
    ...common,
    kind: z.literal('status'),
    status: z.number().int().min(400).max(599),
    reasonCode: z.string().min(1).optional(),
    retryAfterSeconds: z.number().int().nonnegative().optional(),
    processFirst: z.boolean().optional(),
  }),
  z.strictObject({ ...common, kind: z.literal('reset'), processFirst: z.boolean().optional() }),
  z.strictObject({ ...common, kind: z.literal('truncated-body') }),
  z.strictObject({ ...common, kind: z.literal('slow-body'), durationMs: z.number().nonnegative() }),
  z.strictObject({ ...common, kind: z.literal('slow-headers'), ms: z.number().nonnegative() }),
  z.strictObject({ ...common, kind: z.literal('hang'), processFirst: z.boolean().optional() }),
  z.strictObject({ ...common, kind: z.literal('invalid-json') }),
  z.strictObject({ ...common, kind: z.literal('unexpected-state'), state: z.string() }),
]);

export type FaultSpec = z.infer<typeof faultSpecSchema>;

interface QueuedFault {
  spec: FaultSpec;
  remaining: number;
}

export class FaultQueue {
  #queue: QueuedFault[] = [];

  add(spec: FaultSpec): void {
    const parsed = faultSpecSchema.parse(spec);
    this.#queue.push({ spec: parsed, remaining: parsed.times ?? 1 });
  }

  clear(): number {
    const n = this.#queue.length;
    this.#queue = [];
    return n;
  }

  get size(): number {
    return this.#queue.length;
  }

  /** Takes one use of the oldest fault that matches this request, if any. */
  take(operation: FaultOperation, checkoutSessionId: string): FaultSpec | undefined {
    const index = this.#queue.findIndex(
      ({ spec }) =>
        (spec.operation === undefined || spec.operation === 'any' || spec.operation === operation) &&
        (spec.checkoutSessionId === undefined || spec.checkoutSessionId === checkoutSessionId),
    );
    if (index < 0) return undefined;
    const entry = this.#queue[index]!;
    entry.remaining -= 1;
    if (entry.remaining <= 0) this.#queue.splice(index, 1);
    return entry.spec;
  }
}

/** Whether the operation runs before the fault is applied (so the session may have changed state). */
export function processesFirst(spec: FaultSpec): boolean {
  switch (spec.kind) {
    case 'latency':
      return false;
    case 'status':
      return spec.processFirst ?? false;
    case 'reset':
    case 'hang':
      return spec.processFirst ?? true;
    default:
      return true;
  }
}

const DEFAULT_REASONS: Record<number, [string, string]> = {
  400: ['InvalidRequest', 'The request is invalid'],
  401: ['UnauthorizedAccess', 'Unauthorized access'],
  403: ['InvalidAuthentication', 'Authentication failed'],
  404: ['ResourceNotFound', 'The requested resource was not found'],
  408: ['RequestTimeout', 'The request timed out'],
  429: ['TooManyRequests', 'The request was throttled, please retry later'],
  500: ['InternalServerError', 'There was an unknown error in the service'],
  502: ['InternalServerError', 'Bad gateway'],
  503: ['ServiceUnavailable', 'The service is temporarily unavailable, please retry later'],
  504: ['InternalServerError', 'Gateway timeout'],
};

/** The Amazon-style error body of a status fault (protocol sheet §5.3 status → reasonCode table). */
export function statusFaultBody(
  status: number,
  reasonCode: string | undefined,
): {
  reasonCode: string;
  message: string;
} {
  const [defaultCode, message] =
    DEFAULT_REASONS[status] ??
    (status >= 500
      ? ['InternalServerError', 'There was an unknown error in the service']
      : ['InvalidRequest', 'The request is invalid']);
  return { reasonCode: reasonCode ?? defaultCode, message };
}
