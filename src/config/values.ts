/**
 * The value types of Distribution's configuration, shared by every section's schema: text,
 * booleans, log levels, counts and Go durations, read as loosely as Distribution's Go YAML reads
 * them.
 */
import { z } from 'zod';
import { parseDuration } from './duration.js';

/** Distribution's YAML is loosely typed: `addr: 5000` and `enabled: "true"` both occur. */
export const text = z.union([z.string(), z.number()]).transform(String);
/** YAML 1.1 booleans, as Distribution's Go YAML reads them; strings too, since overrides are strings. */
const TRUE_WORDS = new Set(['true', 'yes', 'y', 'on']);
const FALSE_WORDS = new Set(['false', 'no', 'n', 'off']);
export const flag = z.union([z.boolean(), z.string()]).transform((value, context) => {
  if (typeof value === 'boolean') return value;
  const word = value.trim().toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  context.addIssue({ code: 'custom', message: `expected true or false, not "${value}"` });
  return z.NEVER;
});
/** Log levels; Distribution reads them case-insensitively. */
export const level = z.preprocess(
  (value) => (typeof value === 'string' ? value.trim().toLowerCase() : value),
  z.enum(['error', 'warn', 'info', 'debug'], {
    error: (issue) => `expected one of error, warn, info, debug, not ${JSON.stringify(issue.input)}`,
  }),
);
export const count = z.coerce.number().int().nonnegative();
/** A duration in milliseconds. */
export const duration = z.union([z.string(), z.number()]).transform((value, context) => {
  const ms = typeof value === 'number' ? value / 1e6 : parseDuration(value); // Go reads bare numbers as nanoseconds
  if (ms === undefined) {
    context.addIssue({ code: 'custom', message: `"${value}" is not a duration (for example 24h, 10m, 30s)` });
    return z.NEVER;
  }
  return ms;
});
