// The simulator's checkout-session model: test buyers, Amazon's state machine and the response object's shape.
import { randomInt, randomUUID } from 'node:crypto';
import { formatAmzDate } from '../amazon-pay/signing.ts';

export interface SimAddress {
  name: string | null;
  addressLine1: string | null;
  addressLine2: string | null;
  addressLine3: string | null;
  city: string | null;
  county: string | null;
  district: string | null;
  stateOrRegion: string | null;
  postalCode: string | null;
  countryCode: string | null;
  phoneNumber: string | null;
}

export interface BuyerData {
  buyerId?: string;
  name: string | null;
  email: string | null;
  phoneNumber: string | null;
  primeMembershipTypes?: string[] | null;
  billingAddress: SimAddress | null;
  shippingAddress: SimAddress | null;
}

export const BUYER_PRESETS = ['source-document', 'no-phone', 'no-billing-address'] as const;
export type BuyerPreset = (typeof BUYER_PRESETS)[number];

export const OUTCOMES = [
  'success',
  'BuyerCanceled',
  'Declined',
  'AmazonCanceled',
  'AmazonRejected',
  'ProcessingFailure',
] as const;
export type SessionOutcome = (typeof OUTCOMES)[number];
export type FailureReason = Exclude<SessionOutcome, 'success'>;

/** Protocol sheet §7: the values signInScopes may carry. */
export const SIGN_IN_SCOPES = [
  'name',
  'email',
  'postalCode',
  'shippingAddress',
  'phoneNumber',
  'primeStatus',
  'billingAddress',
] as const;

/** The six scopes of the Sign-in & Setup button payload (protocol sheet §7): the default here. */
export const DEFAULT_SCOPES: readonly string[] = [
  'name',
  'email',
  'postalCode',
  'shippingAddress',
  'phoneNumber',
  'billingAddress',
];

export interface CreateSessionInput {
  checkoutSessionId?: string;
  buyer?: BuyerPreset | BuyerData;
  outcome?: SessionOutcome;
  scopes?: string[];
  signInReturnUrl?: string;
  signInCancelUrl?: string;
  storeId?: string;
  chargePermissionType?: string;
  createdAt?: number;
}

export type SessionState = 'Open' | 'Completed' | 'Canceled';

export interface SessionRecord {
  readonly id: string;
  readonly buyer: BuyerData;
  readonly buyerId: string;
  readonly outcome: SessionOutcome;
  readonly scopes: readonly string[];
  readonly signInReturnUrl: string | undefined;
  readonly signInCancelUrl: string | undefined;
  readonly storeId: string | undefined;
  readonly chargePermissionType: string;
  readonly createdAt: number;
  state: SessionState;
  reasonCode: string | null;
  lastUpdatedAt: number;
  chargePermissionId: string | null;
}

export const HOUR_MS = 3_600_000;
/** Protocol sheet §5.4 / step 3: a session not completed within 24 h is canceled. */
export const SESSION_OPEN_MS = 24 * HOUR_MS;
/** Protocol sheet §5.4: objects are deleted after 30 days (later reads are 404 ResourceNotFound). */
export const SESSION_RETENTION_MS = 30 * 24 * HOUR_MS;

export const REASON_DESCRIPTIONS: Record<FailureReason | 'Expired', string> = {
  BuyerCanceled: 'The buyer canceled the checkout.',
  Declined: "The buyer's payment method was declined.",
  AmazonCanceled: 'Amazon canceled the checkout.',
  AmazonRejected: 'Amazon rejected the transaction.',
  ProcessingFailure: 'The transaction could not be processed due to an internal processing error.',
  Expired: 'The Checkout Session expired because it was not completed within 24 hours.',
};

// The step-3 source document's buyer, billing and shipping address, verbatim.
const SOURCE_BILLING: SimAddress = {
  name: 'Work',
  addressLine1: '440 Terry Ave',
  addressLine2: '',
  addressLine3: '',
  city: 'Seattle',
  county: 'King',
  district: 'Seattle',
  stateOrRegion: 'WA',
  postalCode: '98121',
  countryCode: 'US',
  phoneNumber: '800-000-0000',
};

const SOURCE_SHIPPING: SimAddress = {
  name: 'Susie Smith',
  addressLine1: '10 Ditka Ave',
  addressLine2: 'Suite 2500',
  addressLine3: null,
  city: 'Chicago',
  county: null,
  district: null,
  stateOrRegion: 'IL',
  postalCode: '60602',
  countryCode: 'US',
  phoneNumber: '800-000-0000',
};

// Stable ids per preset buyer: the same Amazon account always has the same buyerId.
const PRESET_BUYERS: Record<BuyerPreset, Required<BuyerData>> = {
  'source-document': {
    buyerId: 'amzn1.account.SIMSOURCEDOCUMENTBUYER0001',
    name: 'name-1',
    email: 'name@amazon.com',
    phoneNumber: '800-000-0000',
    primeMembershipTypes: null,
    billingAddress: SOURCE_BILLING,
    shippingAddress: SOURCE_SHIPPING,
  },
  // Peers' pitfall §2.7: accounts without a phone number are common.
  'no-phone': {
    buyerId: 'amzn1.account.SIMNOPHONEBUYER000000002',
    name: 'Pat Nophone',
    email: 'nophone@example.com',
    phoneNumber: null,
    primeMembershipTypes: null,
    billingAddress: { ...SOURCE_BILLING, phoneNumber: null },
    shippingAddress: { ...SOURCE_SHIPPING, name: 'Pat Nophone', phoneNumber: null },
  },
  // Peers' pitfall §2.7: US accounts often have no billing address.
  'no-billing-address': {
    buyerId: 'amzn1.account.SIMNOBILLINGBUYER0000003',
    name: 'Sam Nobilling',
    email: 'nobilling@example.com',
    phoneNumber: '800-000-0001',
    primeMembershipTypes: null,
    billingAddress: null,
    shippingAddress: { ...SOURCE_SHIPPING, name: 'Sam Nobilling', phoneNumber: '800-000-0001' },
  },
};

export function presetBuyer(preset: BuyerPreset): BuyerData {
  return structuredClone(PRESET_BUYERS[preset]);
}

function randomAccountId(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  let out = 'amzn1.account.';
  for (let i = 0; i < 28; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

export const SESSION_ID_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;

export class SessionStore {
  readonly #sessions = new Map<string, SessionRecord>();
  readonly #usedChargePermissionIds = new Set<string>();

  create(input: CreateSessionInput, now: number): SessionRecord {
    const id = input.checkoutSessionId ?? randomUUID();
    if (!SESSION_ID_PATTERN.test(id)) throw new TypeError(`invalid checkoutSessionId: ${JSON.stringify(id)}`);
    if (this.#sessions.has(id)) throw new Error(`checkout session ${id} already exists`);
    const buyer =
      typeof input.buyer === 'object'
        ? structuredClone(input.buyer)
        : presetBuyer(input.buyer ?? 'source-document');
    const createdAt = input.createdAt ?? now;
    const record: SessionRecord = {
      id,
      buyer,
      buyerId: buyer.buyerId ?? randomAccountId(),
      outcome: input.outcome ?? 'success',
      scopes: input.scopes ? [...input.scopes] : [...DEFAULT_SCOPES],
      signInReturnUrl: input.signInReturnUrl,
      signInCancelUrl: input.signInCancelUrl,
      storeId: input.storeId,
      chargePermissionType: input.chargePermissionType ?? 'PaymentMethodOnFile',
      createdAt,
      state: 'Open',
      reasonCode: null,
      lastUpdatedAt: createdAt,
      chargePermissionId: null,
    };
    this.#sessions.set(id, record);
    return record;
  }

  /**
   * Applies Amazon's clock rules lazily (protocol sheet §5.4): Open for 24 h after creation, then
   * Canceled/Expired; gone after 30 days. Returns undefined for unknown or deleted sessions.
   */
  get(id: string, now: number): SessionRecord | undefined {
    const record = this.#sessions.get(id);
    if (!record) return undefined;
    if (now >= record.createdAt + SESSION_RETENTION_MS) {
      this.#sessions.delete(id);
      return undefined;
    }
    if (record.state === 'Open' && now >= record.createdAt + SESSION_OPEN_MS) {
      record.state = 'Canceled';
      record.reasonCode = 'Expired';
      record.lastUpdatedAt = record.createdAt + SESSION_OPEN_MS;
    }
    return record;
  }

  complete(record: SessionRecord, outcome: SessionOutcome, now: number): void {
    record.lastUpdatedAt = now;
    if (outcome === 'success') {
      record.state = 'Completed';
      record.chargePermissionId = this.#newChargePermissionId();
    } else {
      record.state = 'Canceled';
      record.reasonCode = outcome;
    }
  }

  // Real ids look like B01-1234567-1234567 (step-3 example); unique per session here.
  #newChargePermissionId(): string {
    for (;;) {
      const digits = () => String(randomInt(10_000_000)).padStart(7, '0');
      const id = `B01-${digits()}-${digits()}`;
      if (!this.#usedChargePermissionIds.has(id)) {
        this.#usedChargePermissionIds.add(id);
        return id;
      }
    }
  }
}

const NULL_ADDRESS: SimAddress = {
  name: null,
  addressLine1: null,
  addressLine2: null,
  addressLine3: null,
  city: null,
  county: null,
  district: null,
  stateOrRegion: null,
  postalCode: null,
  countryCode: null,
  phoneNumber: null,
};

/**
 * The Checkout Session object in the step-3 example's shape and key order. Buyer data is cut to the
 * session's signInScopes (name + email when none were given, step 3 "Important"). `postalCode` without
 * `shippingAddress` yields a shipping address with only postal code and country. Unlike Amazon (protocol
 * sheet §5.4: checkout details only while Open) buyer data stays visible in every state, so a client that
 * lost a Complete response can read it back with Get.
 */
export function renderSession(record: SessionRecord): Record<string, unknown> {
  const scopes = new Set(record.scopes.length > 0 ? record.scopes : ['name', 'email']);
  const { buyer } = record;
  let shippingAddress: SimAddress | null = null;
  if (buyer.shippingAddress && scopes.has('shippingAddress')) shippingAddress = { ...buyer.shippingAddress };
  else if (buyer.shippingAddress && scopes.has('postalCode')) {
    shippingAddress = {
      ...NULL_ADDRESS,
      postalCode: buyer.shippingAddress.postalCode,
      countryCode: buyer.shippingAddress.countryCode,
    };
  }
  const billingAddress =
    buyer.billingAddress && scopes.has('billingAddress') ? { ...buyer.billingAddress } : null;
  const open = record.state === 'Open';
  const reason = record.reasonCode as keyof typeof REASON_DESCRIPTIONS | null;
  return {
    checkoutSessionId: record.id,
    webCheckoutDetails: null,
    chargePermissionType: record.chargePermissionType,
    paymentMethodOnFileMetadata: null,
    productType: null,
    paymentDetails: null,
    merchantMetadata: null,
    supplementaryData: null,
    buyer: {
      buyerId: record.buyerId,
      name: scopes.has('name') ? buyer.name : null,
      email: scopes.has('email') ? buyer.email : null,
      phoneNumber: scopes.has('phoneNumber') ? buyer.phoneNumber : null,
      // Protocol sheet §7: only allow-listed merchants get Prime data; null otherwise.
      primeMembershipTypes: scopes.has('primeStatus') ? (buyer.primeMembershipTypes ?? null) : null,
    },
    billingAddress,
    statusDetails: {
      state: record.state,
      reasonCode: record.reasonCode,
      reasonDescription: reason ? (REASON_DESCRIPTIONS[reason] ?? null) : null,
      lastUpdatedTimestamp: formatAmzDate(new Date(record.lastUpdatedAt)),
    },
    shippingAddress,
    // Protocol sheet §5.2 quirk: the list's items are JSON-encoded strings, each with an addressId.
    shippingAddressList:
      shippingAddress && scopes.has('shippingAddress')
        ? [JSON.stringify({ addressId: `${record.buyerId}.address.1`, ...shippingAddress })]
        : null,
    platformId: null,
    chargePermissionId: record.chargePermissionId,
    chargeId: null,
    constraints: null,
    creationTimestamp: formatAmzDate(new Date(record.createdAt)),
    expirationTimestamp: open ? formatAmzDate(new Date(record.createdAt + SESSION_OPEN_MS)) : null,
    storeId: null,
    deliverySpecifications: null,
    providerMetadata: null,
    releaseEnvironment: null,
  };
}
