// Picks the checkout store backend from DATABASE_URL: `sqlite:<path>`, `sqlite::memory:`, `postgres://…`.
import { PostgresCheckoutStore } from './postgres.ts';
import { SqliteCheckoutStore } from './sqlite.ts';
import type { CheckoutStore } from './store.ts';

export type { CheckoutStore } from './store.ts';

export interface StoreLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface CreateStoreOptions {
  /** Receives pool-level errors (PostgreSQL); never given buyer data. */
  logger?: StoreLogger;
  /** SQLite commit durability; see SqliteStoreOptions.synchronous. */
  synchronous?: 'FULL' | 'NORMAL';
  /** PostgreSQL pool size per instance. */
  poolMax?: number;
  /** PostgreSQL schema holding the tables (created by migrate); default: the connection's search_path. */
  schema?: string;
}

/** Builds the store; the caller runs `migrate()` before use and `close()` on shutdown. */
export function createStore(databaseUrl: string, options: CreateStoreOptions = {}): CheckoutStore {
  if (databaseUrl.startsWith('sqlite:')) {
    let path = databaseUrl.slice('sqlite:'.length);
    // Accept the URL-ish spelling `sqlite:///abs/path` and `sqlite://rel/path` as well as `sqlite:rel/path`.
    if (path.startsWith('//')) path = path.slice(2);
    if (path === '') throw new Error('DATABASE_URL: sqlite: needs a file path or :memory:');
    return new SqliteCheckoutStore(path, options.synchronous ? { synchronous: options.synchronous } : {});
  }
  if (databaseUrl.startsWith('postgres://') || databaseUrl.startsWith('postgresql://')) {
    return new PostgresCheckoutStore({
      connectionString: databaseUrl,
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.poolMax ? { max: options.poolMax } : {}),
      ...(options.schema ? { schema: options.schema } : {}),
    });
  }
  // Never echo the URL: a postgres URL may carry a password.
  throw new Error('DATABASE_URL must start with sqlite:, postgres:// or postgresql://');
}
