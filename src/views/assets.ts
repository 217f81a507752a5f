// The pages' static files (stylesheet and start script), read once at startup and served from /assets/….
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface StaticAsset {
  contentType: string;
  body: Buffer;
  /** Strong validator from the content, so a deploy with changed files never serves a stale cache hit. */
  etag: string;
}

function load(fileName: string, contentType: string): StaticAsset {
  const body = readFileSync(new URL(`./assets/${fileName}`, import.meta.url));
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  return { contentType, body, etag };
}

export const STATIC_ASSETS: ReadonlyMap<string, StaticAsset> = new Map([
  ['/assets/checkout.css', load('checkout.css', 'text/css; charset=utf-8')],
  ['/assets/start.js', load('start.js', 'text/javascript; charset=utf-8')],
]);
