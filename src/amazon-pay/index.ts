// The Amazon Pay module's public API: the client, its contract and errors, schemas, endpoints and signing.
export {
  AmazonPayClient,
  type AmazonPayClientOptions,
  CHECKOUT_SESSION_ID_PATTERN,
  CLIENT_DEFAULTS,
  type ClientEvent,
  type ClientEventOutcome,
  type ClientOperation,
  parseRetryAfter,
} from './client.ts';
export * from './endpoints.ts';
export * from './errors.ts';
export * from './schemas.ts';
export * from './signing.ts';
export * from './types.ts';
