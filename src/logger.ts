// The pino logger: JSON lines, no buyer data by construction (we log allow-listed fields), and a redaction
// net for the headers and key material that must never appear even if someone logs a whole object.
import pino, { type DestinationStream, type Logger } from 'pino';

export const REDACTED_PATHS = [
  'req.headers.cookie',
  'req.headers.authorization',
  'res.headers["set-cookie"]',
  'headers.cookie',
  'headers.authorization',
  'headers["set-cookie"]',
  '*.cookie',
  '*.authorization',
  '*.privateKey',
  '*.cookieSecret',
  '*.metricsToken',
  'privateKey',
  'cookieSecret',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'amazon-pay-checkout' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
