import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/**
 * Paths that may carry secrets anywhere in a log object. Redaction is the last line of defence:
 * code should not log secrets in the first place.
 */
const REDACT = [
  'password',
  '*.password',
  '*.*.password',
  'secret',
  '*.secret',
  'clientSecret',
  '*.clientSecret',
  'token',
  '*.token',
  'cookie',
  '*.cookie',
  'req.headers.cookie',
  'req.headers.authorization',
  'headers.cookie',
  'headers.authorization',
];

export function createLogger(opts: { level?: string; destination?: DestinationStream } = {}): Logger {
  const level = opts.level ?? process.env.DRAWBRIDGE_LOG_LEVEL ?? 'info';
  return pino({ level, redact: { paths: REDACT, censor: '[redacted]' }, base: { svc: 'drawbridge' } }, opts.destination);
}
