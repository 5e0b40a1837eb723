/** The process logger: JSON lines (pino), credentials never written. */
import { pino, type Logger } from 'pino';

export function createLogger(level: string, fields?: Record<string, unknown>): Logger {
  return pino({
    level,
    base: { service: 'berth', ...fields },
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'req.headers["proxy-authorization"]',
        '*.password',
        '*.token',
      ],
      censor: '[redacted]',
    },
  });
}
