// The simulator's unsigned HTTP control API under /__sim, for tests and benchmarks in other processes.
import { z } from 'zod';
import { faultSpecSchema } from './faults.ts';
import type { Simulator } from './index.ts';
import { BUYER_PRESETS, type CreateSessionInput, OUTCOMES } from './sessions.ts';

const nullableString = z.string().nullable();
const addressSchema = z.strictObject({
  name: nullableString,
  addressLine1: nullableString,
  addressLine2: nullableString,
  addressLine3: nullableString,
  city: nullableString,
  county: nullableString,
  district: nullableString,
  stateOrRegion: nullableString,
  postalCode: nullableString,
  countryCode: nullableString,
  phoneNumber: nullableString,
});

export const createSessionInputSchema = z.strictObject({
  checkoutSessionId: z.string().optional(),
  buyer: z
    .union([
      z.enum(BUYER_PRESETS),
      z.strictObject({
        buyerId: z.string().optional(),
        name: nullableString,
        email: nullableString,
        phoneNumber: nullableString,
        primeMembershipTypes: z.array(z.string()).nullable().optional(),
        billingAddress: addressSchema.nullable(),
        shippingAddress: addressSchema.nullable(),
      }),
    ])
    .optional(),
  outcome: z.enum(OUTCOMES).optional(),
  scopes: z.array(z.string()).optional(),
  signInReturnUrl: z.string().optional(),
  signInCancelUrl: z.string().optional(),
  storeId: z.string().optional(),
  chargePermissionType: z.string().optional(),
  createdAt: z.number().optional(),
});

const clockSchema = z.strictObject({ advanceMs: z.number() });

interface ControlReply {
  status: number;
  body: Record<string, unknown>;
}

function invalid(message: string): ControlReply {
  return { status: 400, body: { reasonCode: 'InvalidRequest', message } };
}

function parseJson(body: Buffer): unknown {
  const text = body.toString('utf8').trim();
  return text === '' ? {} : JSON.parse(text);
}

export function handleControlApi(
  sim: Simulator,
  method: string,
  rawPath: string,
  body: Buffer,
): ControlReply {
  const path = rawPath.replace(/\/$/, '');
  let input: unknown;
  try {
    input = parseJson(body);
  } catch {
    return invalid('The request body is not valid JSON');
  }
  try {
    if (method === 'POST' && path === '/__sim/sessions') {
      const parsed = createSessionInputSchema.safeParse(input);
      if (!parsed.success) return invalid(z.prettifyError(parsed.error));
      return { status: 201, body: sim.createSession(parsed.data as CreateSessionInput) };
    }
    if (method === 'POST' && path === '/__sim/faults') {
      // One fault or an array of faults, queued in order.
      const parsed = z.union([faultSpecSchema, z.array(faultSpecSchema)]).safeParse(input);
      if (!parsed.success) return invalid(z.prettifyError(parsed.error));
      const list = Array.isArray(parsed.data) ? parsed.data : [parsed.data];
      for (const fault of list) sim.injectFault(fault);
      return { status: 201, body: { queued: list.length } };
    }
    if (method === 'DELETE' && path === '/__sim/faults') {
      sim.clearFaults();
      return { status: 200, body: {} };
    }
    const statsMatch = /^\/__sim\/sessions\/([^/]+)\/stats$/.exec(path);
    if (method === 'GET' && statsMatch) {
      return { status: 200, body: { ...sim.stats(decodeURIComponent(statsMatch[1]!)) } };
    }
    if (method === 'POST' && path === '/__sim/clock') {
      const parsed = clockSchema.safeParse(input);
      if (!parsed.success) return invalid(z.prettifyError(parsed.error));
      sim.advanceClock(parsed.data.advanceMs);
      return { status: 200, body: { now: new Date(sim.now()).toISOString() } };
    }
    if (method === 'GET' && path === '/__sim/totals') return { status: 200, body: { ...sim.totals() } };
  } catch (err) {
    return invalid((err as Error).message);
  }
  return {
    status: 404,
    body: { reasonCode: 'ResourceNotFound', message: 'Unknown simulator control route' },
  };
}
