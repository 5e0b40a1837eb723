/**
 * `notifications`: Distribution's webhook section (docs/notifications.md), key for key, plus a few
 * keys per endpoint that Distribution has no word for (format, signing secret, repository filters,
 * retry bounds). Distribution's Go YAML ignores keys it does not know, so a Berth configuration
 * with them still loads there.
 */
import { z } from 'zod';
import { count, duration, flag, text } from './values.js';

/** Formats an endpoint may receive (docs/notifications.md#formats). */
export const EVENT_FORMATS = ['v1', 'v2', 'cloudevents'] as const;
export type EventFormat = (typeof EVENT_FORMATS)[number];

const ACTIONS = ['push', 'pull', 'mount', 'delete'] as const;
const list = z.array(text).default([]);

const endpoint = z.strictObject({
  name: text,
  disabled: flag.default(false),
  url: text.refine((value) => {
    try {
      const url = new URL(value);
      return url.protocol === 'http:' || url.protocol === 'https:';
    } catch {
      return false;
    }
  }, 'must be an http:// or https:// URL'),
  /** Static headers; each value is a list, as in Distribution (`Authorization: [Bearer …]`). */
  headers: z.record(z.string(), z.union([z.array(text), text])).default({}),
  timeout: duration.default(1000),
  /** Failures in a row before Berth waits `backoff` between attempts. */
  threshold: count.default(10),
  backoff: duration.default(1000),
  ignoredmediatypes: list,
  ignore: z
    .strictObject({
      mediatypes: list,
      actions: z.array(z.enum(ACTIONS)).default([]),
      /** Berth: repository patterns whose events this endpoint does not get. */
      repositories: list,
    })
    .prefault({}),
  // Berth's own keys.
  /** Body format: Distribution 2.8's envelope (v1), 3.x's (v2) or a CloudEvents 1.0 event. */
  format: z.enum(EVENT_FORMATS).default('v1'),
  /** Repository patterns (`team/*`, `**`) whose events this endpoint gets; empty: all. */
  repositories: list,
  /** Signs each delivery with HMAC-SHA256 under this secret (header `Berth-Signature`). */
  secret: text.optional(),
  /** Longest wait between attempts while the endpoint keeps failing. */
  maxbackoff: duration.default(5 * 60_000),
  /** Age after which an undeliverable event moves to the dead letters. */
  maxage: duration.default(24 * 3600_000),
  /** Dead letters kept for this endpoint; the oldest beyond it are dropped. */
  maxdead: count.default(10_000),
});

export const notificationsSection = z.strictObject({
  events: z.strictObject({ includereferences: flag.default(false) }).prefault({}),
  endpoints: z
    .array(endpoint)
    .default([])
    .refine(
      (endpoints) => new Set(endpoints.map((entry) => entry.name)).size === endpoints.length,
      'endpoint names must be unique',
    ),
});

export type NotificationEndpointConfig = z.infer<typeof endpoint>;
