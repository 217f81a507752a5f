// The Amazon Pay button configuration for the Saved Wallet sign-in-and-setup flow, with the signed payload.
import type { Region } from '../amazon-pay/endpoints.ts';
import type { AmazonPayApi } from '../amazon-pay/types.ts';

export const SIGN_IN_SCOPES = [
  'name',
  'email',
  'phoneNumber',
  'billingAddress',
  'shippingAddress',
  'postalCode',
];

const LEDGER_CURRENCY: Record<Region, string> = { na: 'USD', eu: 'EUR', jp: 'JPY' };
const CHECKOUT_LANGUAGE: Record<Region, string> = { na: 'en_US', eu: 'en_GB', jp: 'ja_JP' };

export interface ButtonConfig {
  merchantId: string;
  ledgerCurrency: string;
  checkoutLanguage: string;
  productType: string;
  placement: string;
  sandbox: boolean;
  createCheckoutSessionConfig: {
    payloadJSON: string;
    signature: string;
    publicKeyId: string;
    algorithm: string;
  };
}

export interface ButtonConfigOptions {
  client: AmazonPayApi;
  merchantId: string;
  storeId: string;
  region: Region;
  sandbox: boolean;
  publicBaseUrl: string;
  returnPath: string;
  /** Where "cancel" at Amazon sends the buyer: the start of checkout, resolved on the public base URL. */
  cancelUrl: string;
}

/**
 * The payload has no per-buyer data and no timestamp, so its signature is static: it is signed once and
 * reused (the buyer's browser is bound by the cookie, not by the payload).
 */
export class ButtonConfigService {
  readonly #options: ButtonConfigOptions;
  #cached: Promise<ButtonConfig> | undefined;

  constructor(options: ButtonConfigOptions) {
    this.#options = options;
  }

  get(): Promise<ButtonConfig> {
    this.#cached ??= this.#build().catch((err: unknown) => {
      this.#cached = undefined;
      throw err;
    });
    return this.#cached;
  }

  async #build(): Promise<ButtonConfig> {
    const o = this.#options;
    const payload = {
      storeId: o.storeId,
      signInScopes: SIGN_IN_SCOPES,
      webCheckoutDetails: {
        signInReturnUrl: new URL(o.returnPath, withTrailingSlash(o.publicBaseUrl)).href,
        signInCancelUrl: o.cancelUrl,
      },
      chargePermissionType: 'PaymentMethodOnFile',
      paymentMethodOnFileMetadata: { setupOnly: true },
    };
    // Serialized once: the browser must pass this exact string, the one that was signed.
    const payloadJSON = JSON.stringify(payload);
    const signature = await o.client.signButtonPayload(payloadJSON);
    return {
      merchantId: o.merchantId,
      ledgerCurrency: LEDGER_CURRENCY[o.region],
      checkoutLanguage: CHECKOUT_LANGUAGE[o.region],
      productType: 'SignIn',
      placement: 'Checkout',
      sandbox: o.sandbox,
      createCheckoutSessionConfig: {
        payloadJSON,
        signature,
        publicKeyId: o.client.publicKeyId,
        algorithm: o.client.algorithm,
      },
    };
  }
}

function withTrailingSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}
