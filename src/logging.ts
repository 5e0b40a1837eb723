/**
 * The process logger (pino), in the format `log.formatter` names, with `log.fields` on every
 * line and credentials never written:
 *   json      one JSON object per line (pino's: numeric `level`, `time` in epoch ms, `msg`)
 *   logstash  one JSON object per line as Logstash reads it: `@timestamp`, `@version`, `message`,
 *             `level` as a word
 *   text      one human-readable line, as Distribution's (logrus) text formatter writes it:
 *             time="…" level=info msg="…" key=value …
 * Without `log.formatter`, text on a terminal and JSON otherwise (log collectors read JSON).
 */
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type LogFormatter = 'text' | 'json' | 'logstash';

const REDACT: LoggerOptions['redact'] = {
  paths: [
    'req.headers.authorization',
    'req.headers.cookie',
    'req.headers["proxy-authorization"]',
    '*.password',
    '*.token',
  ],
  censor: '[redacted]',
};

const LEVEL_NAMES: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

/** A logfmt value: bare when it is a plain word, quoted (JSON escapes) otherwise. */
function textValue(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return /^[\w./:@+-]+$/.test(text ?? '') ? text! : JSON.stringify(text ?? 'undefined');
}

/** One pino JSON line as a logrus text line. */
export function textLine(json: string): string {
  const { time, level, msg, ...fields } = JSON.parse(json) as Record<string, unknown>;
  const parts = [
    `time="${new Date(time as number).toISOString()}"`,
    `level=${LEVEL_NAMES[level as number] ?? String(level)}`,
    `msg=${JSON.stringify(String(msg ?? ''))}`,
  ];
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) parts.push(`${key}=${textValue(value)}`);
  }
  return `${parts.join(' ')}\n`;
}

const textDestination = (out: NodeJS.WritableStream): DestinationStream => ({
  write: (line: string) => out.write(textLine(line)),
});

export function createLogger(level: string, fields?: Record<string, unknown>, formatter?: LogFormatter): Logger {
  const format = formatter ?? (process.stdout.isTTY ? 'text' : 'json');
  const base = { service: 'berth', ...fields };
  if (format === 'logstash') {
    return pino({
      level,
      base: { '@version': '1', ...base },
      messageKey: 'message',
      timestamp: () => `,"@timestamp":"${new Date().toISOString()}"`,
      formatters: { level: (label) => ({ level: label }) },
      redact: REDACT,
    });
  }
  const options: LoggerOptions = { level, base, redact: REDACT };
  return format === 'text' ? pino(options, textDestination(process.stdout)) : pino(options);
}
