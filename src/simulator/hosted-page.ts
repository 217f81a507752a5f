// The simulator's hosted sign-in page (the browser half of Amazon Pay); filled in after the API.
import type { KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CreateSessionInput } from './sessions.ts';

export interface HostedPageContext {
  publicKeys: Record<string, KeyObject>;
  createSession(input: CreateSessionInput): { checkoutSessionId: string };
  now(): number;
}

export function isHostedPagePath(rawPath: string): boolean {
  return rawPath === '/checkout/sign-in' || rawPath === '/checkout/sign-in/continue';
}

export async function handleHostedPage(
  _ctx: HostedPageContext,
  _req: IncomingMessage,
  res: ServerResponse,
  _rawQuery: string,
  _body: Buffer,
): Promise<void> {
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify({
      reasonCode: 'ResourceNotFound',
      message: 'The hosted sign-in page is not available yet',
    }),
  );
}
