// Versioned schema migrations for both backends: append-only lists, each entry applied once, in order, in a transaction.

export interface Migration {
  /** Strictly increasing; never renumber or edit an applied migration, add a new one instead. */
  version: number;
  name: string;
  sql: string;
}

// Times are epoch-ms integers (the interface's unit) so that both backends compare them the same way and the
// application clock, not the database clock, decides lease expiry (see postgres.ts on clock skew).
// The partial indexes cover only open records (pending/unknown): the reconciler's pick-up and the stats
// query stay cheap however many decided records accumulate.

export const sqliteMigrations: readonly Migration[] = [
  {
    version: 1,
    name: 'checkout records and bindings',
    sql: `
CREATE TABLE bindings (
  binding_id TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  checkout_session_id TEXT UNIQUE
) STRICT;

CREATE INDEX bindings_unbound_expiry_idx ON bindings (expires_at) WHERE checkout_session_id IS NULL;

CREATE TABLE checkout_records (
  checkout_session_id TEXT PRIMARY KEY,
  binding_id TEXT NOT NULL REFERENCES bindings (binding_id),
  state TEXT NOT NULL CHECK (state IN ('pending', 'completed', 'failed', 'unknown')),
  attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  lease_owner TEXT,
  lease_expires_at INTEGER,
  next_attempt_at INTEGER,
  reason_code TEXT,
  message_code TEXT,
  buyer_id TEXT,
  buyer_name TEXT,
  buyer_email TEXT,
  buyer_phone TEXT,
  billing_address TEXT CHECK (billing_address IS NULL OR json_valid(billing_address)),
  shipping_address TEXT CHECK (shipping_address IS NULL OR json_valid(shipping_address)),
  charge_permission_id TEXT,
  amazon_created_at TEXT,
  amazon_updated_at TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  decided_at INTEGER,
  pii_purged_at INTEGER,
  CHECK ((lease_owner IS NULL) = (lease_expires_at IS NULL))
) STRICT;

CREATE INDEX checkout_records_open_idx ON checkout_records (state, next_attempt_at)
  WHERE state IN ('pending', 'unknown');
CREATE INDEX checkout_records_open_created_idx ON checkout_records (created_at)
  WHERE state IN ('pending', 'unknown');
CREATE INDEX checkout_records_purge_idx ON checkout_records (decided_at)
  WHERE pii_purged_at IS NULL AND state IN ('completed', 'failed');
`,
  },
];

export const postgresMigrations: readonly Migration[] = [
  {
    version: 1,
    name: 'checkout records and bindings',
    sql: `
CREATE TABLE bindings (
  binding_id text PRIMARY KEY,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  checkout_session_id text UNIQUE
);

CREATE INDEX bindings_unbound_expiry_idx ON bindings (expires_at) WHERE checkout_session_id IS NULL;

CREATE TABLE checkout_records (
  checkout_session_id text PRIMARY KEY,
  binding_id text NOT NULL REFERENCES bindings (binding_id),
  state text NOT NULL CHECK (state IN ('pending', 'completed', 'failed', 'unknown')),
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  lease_owner text,
  lease_expires_at bigint,
  next_attempt_at bigint,
  reason_code text,
  message_code text,
  buyer_id text,
  buyer_name text,
  buyer_email text,
  buyer_phone text,
  billing_address jsonb,
  shipping_address jsonb,
  charge_permission_id text,
  amazon_created_at text,
  amazon_updated_at text,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  decided_at bigint,
  pii_purged_at bigint,
  CHECK ((lease_owner IS NULL) = (lease_expires_at IS NULL))
);

CREATE INDEX checkout_records_open_idx ON checkout_records (state, next_attempt_at)
  WHERE state IN ('pending', 'unknown');
CREATE INDEX checkout_records_open_created_idx ON checkout_records (created_at)
  WHERE state IN ('pending', 'unknown');
CREATE INDEX checkout_records_purge_idx ON checkout_records (decided_at)
  WHERE pii_purged_at IS NULL AND state IN ('completed', 'failed');
`,
  },
];
