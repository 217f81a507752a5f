// Browser binding: a checkout attempt tied to one browser, so only that browser can complete a session and
// see its buyer data. The cookie carries a random id (signed by the HTTP layer); the store keeps its state.
import { randomBytes } from 'node:crypto';
import type { Binding, CheckoutStore } from '../store/store.ts';

/** A buyer signs in at Amazon within minutes; two hours also covers revisiting the result page. */
export const DEFAULT_BINDING_TTL_MS = 2 * 3_600_000;

const BINDING_ID_PATTERN = /^[A-Za-z0-9_-]{22,64}$/;

export function isValidBindingId(value: unknown): value is string {
  return typeof value === 'string' && BINDING_ID_PATTERN.test(value);
}

export class BindingService {
  readonly #store: CheckoutStore;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(options: { store: CheckoutStore; ttlMs?: number; now?: () => number }) {
    this.#store = options.store;
    this.#ttlMs = options.ttlMs ?? DEFAULT_BINDING_TTL_MS;
    this.#now = options.now ?? Date.now;
  }

  get ttlMs(): number {
    return this.#ttlMs;
  }

  /** Starts a checkout attempt: 128 random bits, stored before the cookie is handed out. */
  async start(): Promise<Binding> {
    const now = this.#now();
    const binding: Binding = {
      bindingId: randomBytes(16).toString('base64url'),
      createdAt: now,
      expiresAt: now + this.#ttlMs,
      checkoutSessionId: null,
    };
    await this.#store.createBinding(binding);
    return binding;
  }
}
