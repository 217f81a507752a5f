// JSON routes for the merchant frontend: button configuration, completion and status. Errors as
// `{ "error": { "code", "message" } }`; outcomes as `{ "state", … }`.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CompletionView } from '../checkout/completion.ts';
import { isValidCheckoutSessionId } from '../checkout/completion.ts';
import { MESSAGE_CATALOGUE } from '../checkout/messages.ts';
import { sendApiError } from '../plugins/errors.ts';
import type { BuyerDetails } from '../store/store.ts';

type SessionRequest = FastifyRequest<{ Params: { checkoutSessionId: string } }>;

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
    case 'not-found':
      return sendApiError(reply, 404, 'not-found', 'No checkout session with that id for this browser.');
    case 'binding-mismatch':
    case 'binding-unknown':
      return sendApiError(reply, 403, 'checkout-restart', MESSAGE_CATALOGUE['checkout-restart']);
  }
}

export default async function apiRoutes(app: FastifyInstance): Promise<void> {
  const { bindings, buttonConfig, completion, settings } = app.checkout;

  /** Shared guard: a valid id and a valid binding, or a clean 4xx that reaches nothing behind it. */
  function guard(
    request: SessionRequest,
    reply: FastifyReply,
  ): { id: string; bindingId: string } | undefined {
    const id = request.params.checkoutSessionId;
    if (!isValidCheckoutSessionId(id)) {
      sendApiError(reply, 400, 'invalid-session', MESSAGE_CATALOGUE['invalid-session']);
      return undefined;
    }
    const bindingId = request.bindingId();
    if (!bindingId) {
      sendApiError(reply, 403, 'checkout-restart', MESSAGE_CATALOGUE['checkout-restart']);
      return undefined;
    }
    return { id, bindingId };
  }

  app.post('/api/amazon-pay/button-config', async (_request, reply) => {
    const config = await buttonConfig.get();
    const binding = await bindings.start();
    return reply.setBindingCookie(binding).header('cache-control', 'no-store').send(config);
  });

  app.post(
    '/api/amazon-pay/checkout-sessions/:checkoutSessionId/complete',
    async (request: SessionRequest, reply) => {
      const ok = guard(request, reply);
      if (!ok) return reply;
      const view = await completion.complete(ok.id, ok.bindingId);
      return sendView(
        reply.header('cache-control', 'no-store'),
        ok.id,
        view,
        settings.confirmingRefreshSeconds,
      );
    },
  );

  app.get('/api/amazon-pay/checkout-sessions/:checkoutSessionId', async (request: SessionRequest, reply) => {
    const ok = guard(request, reply);
    if (!ok) return reply;
    const view = await completion.status(ok.id, ok.bindingId);
    return sendView(
      reply.header('cache-control', 'no-store'),
      ok.id,
      view,
      settings.confirmingRefreshSeconds,
    );
  });
}
