// zod schemas of the Amazon Pay responses we read; unknown fields are tolerated (Amazon adds fields freely).
import { z } from 'zod';

const nullableString = z.string().nullish();

export const addressSchema = z.looseObject({
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
  addressId: nullableString,
});
export type Address = z.infer<typeof addressSchema>;

export const buyerSchema = z.looseObject({
  buyerId: nullableString,
  name: nullableString,
  email: nullableString,
  phoneNumber: nullableString,
  primeMembershipTypes: z.array(z.string()).nullish(),
});
export type Buyer = z.infer<typeof buyerSchema>;

export const checkoutSessionStates = ['Open', 'Completed', 'Canceled'] as const;

export const statusDetailsSchema = z.looseObject({
  state: z.enum(checkoutSessionStates),
  reasonCode: nullableString,
  reasonDescription: nullableString,
  lastUpdatedTimestamp: nullableString,
});

/**
 * `shippingAddressList` items arrive as JSON-encoded strings (every SDK re-parses them); accept objects too.
 */
const shippingAddressListItem = z.union([
  addressSchema,
  z.string().transform((text, ctx) => {
    try {
      const parsed = addressSchema.safeParse(JSON.parse(text));
      if (parsed.success) return parsed.data;
    } catch {
      // fall through to the issue below
    }
    ctx.addIssue({ code: 'custom', message: 'shippingAddressList item is not an address' });
    return z.NEVER;
  }),
]);

export const checkoutSessionSchema = z.looseObject({
  checkoutSessionId: z.string(),
  chargePermissionType: nullableString,
  chargePermissionId: nullableString,
  chargeId: nullableString,
  buyer: buyerSchema.nullish(),
  billingAddress: addressSchema.nullish(),
  shippingAddress: addressSchema.nullish(),
  shippingAddressList: z.array(shippingAddressListItem).nullish(),
  statusDetails: statusDetailsSchema,
  creationTimestamp: nullableString,
  expirationTimestamp: nullableString,
  storeId: nullableString,
  releaseEnvironment: nullableString,
});
export type CheckoutSession = z.infer<typeof checkoutSessionSchema>;

export const errorBodySchema = z.looseObject({
  reasonCode: z.string(),
  message: z.string().optional().default(''),
});
