// The buyer message catalogue: every outcome → a stable code and a safe message. Amazon's raw text never shows.

export const DEFAULT_FAILURE_TEXT =
  'Your request to save Amazon Pay as a payment method was not successful. Please try again.';

export const MESSAGE_CATALOGUE = {
  'not-successful': DEFAULT_FAILURE_TEXT,
  'buyer-canceled':
    'You canceled saving Amazon Pay as your payment method. You can try again whenever you like.',
  declined:
    'Amazon Pay could not use the selected payment method. Please try again and choose a different payment method in your Amazon account.',
  expired: 'Your Amazon Pay session expired before it was confirmed. Please start again.',
  'amazon-canceled': DEFAULT_FAILURE_TEXT,
  'amazon-rejected':
    'Amazon Pay could not accept this request. Please try again, or choose another way to pay.',
  'processing-failure':
    'Amazon Pay could not process your request right now. Please try again in a few minutes.',
  'checkout-restart':
    'We could not confirm this checkout in your browser (it may have expired or been opened elsewhere). Please start checkout again.',
  'invalid-session': 'That Amazon Pay link is not valid. Please start checkout again.',
  busy: 'We are receiving many requests right now. Please try again in a moment.',
} as const;

export type MessageCode = keyof typeof MESSAGE_CATALOGUE;

export function isMessageCode(value: unknown): value is MessageCode {
  return typeof value === 'string' && Object.hasOwn(MESSAGE_CATALOGUE, value);
}

/** Codes shown on the start page come from the query string: unknown ones fall back to the generic text. */
export function messageFor(code: string): { code: MessageCode; text: string } {
  const known: MessageCode = isMessageCode(code) ? code : 'not-successful';
  return { code: known, text: MESSAGE_CATALOGUE[known] };
}

const REASON_TO_CODE: Record<string, MessageCode> = {
  BuyerCanceled: 'buyer-canceled',
  Declined: 'declined',
  HardDeclined: 'declined',
  SoftDeclined: 'declined',
  PaymentMethodNotAllowed: 'declined',
  Expired: 'expired',
  AmazonCanceled: 'amazon-canceled',
  AmazonRejected: 'amazon-rejected',
  ProcessingFailure: 'processing-failure',
  TransactionTimedOut: 'processing-failure',
};

/** Amazon reason code (statusDetails.reasonCode or an error reasonCode) → buyer message code. */
export function messageCodeForReason(reasonCode: string | null | undefined): MessageCode {
  return (reasonCode && REASON_TO_CODE[reasonCode]) || 'not-successful';
}
