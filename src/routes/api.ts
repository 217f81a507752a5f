// JSON routes for the merchant frontend: button configuration, completion and status. Errors as
// `{ "error": { "code", "message" } }`; outcomes as `{ "state", … }`. The zod schemas below validate the
// requests, shape the responses (nothing outside them is sent) and generate the OpenAPI document (/docs).
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from '@fastify/type-provider-zod';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { CompletionView } from '../checkout/completion.ts';
import { CHECKOUT_SESSION_ID_PATTERN, isValidCheckoutSessionId } from '../checkout/completion.ts';
import { MESSAGE_CATALOGUE, type MessageCode } from '../checkout/messages.ts';
import { sendApiError } from '../plugins/errors.ts';
import type { BuyerDetails } from '../store/store.ts';

const MESSAGE_CODES = Object.keys(MESSAGE_CATALOGUE) as [MessageCode, ...MessageCode[]];

const ErrorBody = z.object({
  error: z.object({
    code: z.string().describe('Stable machine-readable code, e.g. `invalid-session`, `checkout-restart`.'),
    message: z.string().describe('A safe message that may be shown to the buyer.'),
  }),
});
const errorResponse = (description: string) => ErrorBody.describe(description);

const SessionParams = z.object({
  checkoutSessionId: z
    .string()
    .regex(CHECKOUT_SESSION_ID_PATTERN)
    .describe("Amazon Pay's checkout session id (a UUID), as received on the return from Amazon."),
});

// Nothing is read from the body yet; an object is required so the route can grow without breaking clients.
const EmptyBody = z.object({}).describe('An empty JSON object: `{}`.');

const nullableText = z.string().nullable();
const Address = z.object({
  name: nullableText.optional(),
  addressLine1: nullableText.optional(),
  addressLine2: nullableText.optional(),
  addressLine3: nullableText.optional(),
  city: nullableText.optional(),
  county: nullableText.optional(),
  district: nullableText.optional(),
  stateOrRegion: nullableText.optional(),
  postalCode: nullableText.optional(),
  countryCode: nullableText.optional(),
  phoneNumber: nullableText.optional(),
});
const Buyer = z.object({
  name: nullableText,
  email: nullableText,
  phone: nullableText,
  billingAddress: Address.nullable(),
  shippingAddress: Address.nullable(),
});

const Completed = z.object({
  state: z.literal('completed'),
  checkoutSessionId: z.string(),
  paymentMethodSaved: z
    .boolean()
    .describe('True when Amazon returned a chargePermissionId (the saved wallet).'),
  buyer: Buyer.nullable(),
});
const Failed = z.object({
  state: z.literal('failed'),
  checkoutSessionId: z.string(),
  error: z.object({ code: z.enum(MESSAGE_CODES), message: z.string() }),
});
const Outcome = z
  .discriminatedUnion('state', [Completed, Failed])
  .describe('Decided: `completed` with the buyer details, or `failed` with the buyer message.');
const Pending = z
  .object({ state: z.literal('pending'), checkoutSessionId: z.string() })
  .describe('Not decided yet: ask the status route again after `Retry-After` seconds.');

const ButtonConfigBody = z
  .object({
    merchantId: z.string(),
    ledgerCurrency: z.string(),
    checkoutLanguage: z.string(),
    productType: z.string(),
    placement: z.string(),
    sandbox: z.boolean(),
    createCheckoutSessionConfig: z.object({
      payloadJSON: z.string().describe('The exact string that was signed.'),
      signature: z.string(),
      publicKeyId: z.string(),
      algorithm: z.string(),
    }),
  })
  .describe('What `amazon.Pay.renderButton` needs. Also sets the browser-binding cookie.');

const ERRORS = {
  400: errorResponse('`invalid-session`: the id is not a checkout session id; `bad-request`: invalid body.'),
  403: errorResponse(
    '`checkout-restart`: no valid browser binding for this session; `cross-site-request`: refused origin.',
  ),
  404: errorResponse('`not-found`: no checkout session with that id for this browser.'),
  413: errorResponse('`payload-too-large`: the body exceeds 16 KiB.'),
  415: errorResponse('`unsupported-media-type`: the body must be `application/json`.'),
  429: errorResponse('`rate-limited`: too many requests from this client; see `Retry-After`.'),
  503: errorResponse('`busy` or `unavailable`: overloaded or shutting down; see `Retry-After`.'),
} as const;

/** Schema validation failures keep the route's own error shape: a bad id is `invalid-session`, like before. */
function sendValidationError(reply: FastifyReply, error: { validationContext?: string }) {
  if (error.validationContext === 'params') {
    return sendApiError(reply, 400, 'invalid-session', MESSAGE_CATALOGUE['invalid-session']);
  }
  return sendApiError(reply, 400, 'bad-request', 'The request is not valid.');
}

/** The buyer details the frontend may show; the Amazon buyer id and the charge permission stay server-side. */
function publicBuyer(buyer: BuyerDetails | null) {
  if (!buyer) return null;
  return {
    name: buyer.name,
    email: buyer.email,
    phone: buyer.phone,
    billingAddress: buyer.billingAddress,
    shippingAddress: buyer.shippingAddress,
  };
}

function sendView(reply: FastifyReply, checkoutSessionId: string, view: CompletionView, pollSeconds: number) {
  switch (view.kind) {
    case 'completed':
      return reply.code(200).send({
        state: 'completed',
        checkoutSessionId,
        paymentMethodSaved: view.record.chargePermissionId !== null,
        buyer: publicBuyer(view.record.buyer),
      });
    case 'pending':
      return reply
        .code(202)
        .header('retry-after', String(pollSeconds))
        .send({ state: 'pending', checkoutSessionId });
    case 'failed':
      return reply.code(200).send({
        state: 'failed',
        checkoutSessionId,
        error: { code: view.messageCode, message: MESSAGE_CATALOGUE[view.messageCode] },
      });
    case 'busy':
      return sendApiError(
        reply.header('retry-after', String(view.retryAfterSeconds)),
        503,
        'busy',
        MESSAGE_CATALOGUE.busy,
      );
    case 'not-found':
      return sendApiError(reply, 404, 'not-found', 'No checkout session with that id for this browser.');
    case 'binding-mismatch':
    case 'binding-unknown':
      return sendApiError(reply, 403, 'checkout-restart', MESSAGE_CATALOGUE['checkout-restart']);
  }
}

type SessionRequest = FastifyRequest<{ Params: { checkoutSessionId: string } }>;

export default async function apiRoutes(scope: FastifyInstance): Promise<void> {
  // Zod compilers for these routes only: other routes (metrics, pages) keep Fastify's defaults.
  scope.setValidatorCompiler(validatorCompiler);
  scope.setSerializerCompiler(serializerCompiler);
  const app = scope.withTypeProvider<ZodTypeProvider>();
  const { bindings, buttonConfig, completion, settings } = app.checkout;

  /** Shared guard: a valid id and a valid binding, or a clean 4xx that reaches nothing behind it. */
  function guard(
    id: string,
    bindingId: string | undefined,
    reply: FastifyReply,
  ): { id: string; bindingId: string } | undefined {
    // Checked again although the schema did: this test is the one the rest of the service relies on.
    if (!isValidCheckoutSessionId(id)) {
      sendApiError(reply, 400, 'invalid-session', MESSAGE_CATALOGUE['invalid-session']);
      return undefined;
    }
    if (!bindingId) {
      sendApiError(reply, 403, 'checkout-restart', MESSAGE_CATALOGUE['checkout-restart']);
      return undefined;
    }
    return { id, bindingId };
  }

  /** The two session routes differ only in what they ask of the completion service. */
  const sessionHandler =
    (action: (id: string, bindingId: string) => Promise<CompletionView>) =>
    async (request: SessionRequest, reply: FastifyReply) => {
      if (request.validationError) return sendValidationError(reply, request.validationError);
      const ok = guard(request.params.checkoutSessionId, request.bindingId(), reply);
      if (!ok) return reply;
      const view = await action(ok.id, ok.bindingId);
      return sendView(
        reply.header('cache-control', 'no-store'),
        ok.id,
        view,
        settings.confirmingRefreshSeconds,
      );
    };

  app.post(
    '/api/amazon-pay/button-config',
    {
      attachValidation: true,
      schema: {
        tags: ['checkout'],
        operationId: 'startCheckout',
        summary: 'Start a checkout attempt: the signed Amazon Pay button configuration.',
        description:
          'Sets the signed, HttpOnly browser-binding cookie that the return and the session routes require, and answers what `amazon.Pay.renderButton` needs.',
        body: EmptyBody,
        response: {
          200: ButtonConfigBody,
          400: ERRORS[400],
          403: ERRORS[403],
          413: ERRORS[413],
          415: ERRORS[415],
          429: ERRORS[429],
          503: ERRORS[503],
        },
      },
    },
    async (request, reply) => {
      if (request.validationError) return sendValidationError(reply, request.validationError);
      const config = await buttonConfig.get();
      const binding = await bindings.start();
      return reply.setBindingCookie(binding).header('cache-control', 'no-store').send(config);
    },
  );

  app.post(
    '/api/amazon-pay/checkout-sessions/:checkoutSessionId/complete',
    {
      attachValidation: true,
      schema: {
        tags: ['checkout'],
        operationId: 'completeCheckoutSession',
        summary: 'Complete the checkout session (exactly once) and answer its outcome.',
        description:
          'The same completion as the browser return route, for single-page frontends that receive the redirect from Amazon themselves. Repeated calls never complete twice; they answer the stored outcome.',
        params: SessionParams,
        body: EmptyBody,
        response: {
          200: Outcome,
          202: Pending,
          400: ERRORS[400],
          403: ERRORS[403],
          404: ERRORS[404],
          413: ERRORS[413],
          415: ERRORS[415],
          429: ERRORS[429],
          503: ERRORS[503],
        },
      },
    },
    sessionHandler((id, bindingId) => completion.complete(id, bindingId)),
  );

  app.get(
    '/api/amazon-pay/checkout-sessions/:checkoutSessionId',
    {
      attachValidation: true,
      schema: {
        tags: ['checkout'],
        operationId: 'getCheckoutSession',
        summary: 'The stored outcome of a checkout session, for the browser bound to it.',
        params: SessionParams,
        response: {
          200: Outcome,
          202: Pending,
          400: ERRORS[400],
          403: ERRORS[403],
          404: ERRORS[404],
          429: ERRORS[429],
          503: ERRORS[503],
        },
      },
    },
    sessionHandler((id, bindingId) => completion.status(id, bindingId)),
  );
}
