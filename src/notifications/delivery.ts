/**
 * One delivery: the body in the endpoint's format, its headers (the configured ones, the content
 * type, the signature), a POST bounded by the endpoint's timeout. Any 2xx or 3xx answer (after
 * redirects) is a delivery, as in Distribution.
 *
 * Formats (docs/notifications.md#formats):
 *   v1           `{"events":[…]}`, `application/vnd.docker.distribution.events.v1+json` (Distribution 2.8)
 *   v2           the same envelope, `application/vnd.docker.distribution.events.v2+json` (Distribution 3.x)
 *   cloudevents  a CloudEvents 1.0 event in structured JSON mode, the Distribution event as its data
 */
import { createHmac } from 'node:crypto';
import type { EventFormat, NotificationEndpointConfig } from '../config/notifications.js';
import type { RegistryEvent } from './event.js';

export const ENVELOPE_TYPES: Record<'v1' | 'v2', string> = {
  v1: 'application/vnd.docker.distribution.events.v1+json',
  v2: 'application/vnd.docker.distribution.events.v2+json',
};

export const SIGNATURE_HEADER = 'Berth-Signature';
const USER_AGENT = 'berth-notifications/1';

export interface EncodedBody {
  body: string;
  headers: Record<string, string>;
}

/**
 * The CloudEvents form: type `distribution.event.<action>`, source the registry instance. The
 * cloudevents package (with the JSON Schema validator it builds on load) is loaded by the first
 * such delivery: other configurations never load it.
 */
async function cloudEvent(event: RegistryEvent): Promise<EncodedBody> {
  const { CloudEvent, HTTP } = await import('cloudevents');
  const subject = event.target.tag
    ? `${event.target.repository}:${event.target.tag}`
    : event.target.digest
      ? `${event.target.repository}@${event.target.digest}`
      : event.target.repository;
  const message = HTTP.structured(
    new CloudEvent({
      specversion: '1.0',
      id: event.id,
      type: `distribution.event.${event.action}`,
      source: event.source.addr ? `//${event.source.addr}` : '/',
      subject,
      time: event.timestamp,
      datacontenttype: 'application/json',
      data: event,
    }),
  );
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers)) headers[name] = String(value);
  return { body: String(message.body), headers };
}

export async function encode(format: EventFormat, events: RegistryEvent[]): Promise<EncodedBody> {
  if (format === 'cloudevents') {
    if (events.length !== 1) throw new Error('a CloudEvents delivery carries one event');
    return cloudEvent(events[0]!);
  }
  return { body: JSON.stringify({ events }), headers: { 'content-type': ENVELOPE_TYPES[format] } };
}

/**
 * `t=<unix seconds>,v1=<hex>`: HMAC-SHA256 under the secret of `<t>.<body>`. The time is signed
 * with the body so a receiver can refuse an old delivery replayed to it.
 */
export function signature(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

export interface DeliveryResult {
  delivered: boolean;
  /** The HTTP status, when an answer came. */
  status?: number;
  /** Why it failed: the status line or the network error. */
  reason?: string;
}

/** `stop` aborts the attempt (the process is closing); the event stays pending. */
export async function deliver(
  endpoint: NotificationEndpointConfig,
  events: RegistryEvent[],
  stop?: AbortSignal,
): Promise<DeliveryResult> {
  const encoded = await encode(endpoint.format, events);
  const headers = new Headers();
  for (const [name, values] of Object.entries(endpoint.headers)) {
    for (const value of Array.isArray(values) ? values : [values]) headers.append(name, value);
  }
  for (const [name, value] of Object.entries(encoded.headers)) headers.set(name, value);
  if (!headers.has('user-agent')) headers.set('user-agent', USER_AGENT);
  if (endpoint.secret !== undefined) {
    headers.set(SIGNATURE_HEADER, signature(endpoint.secret, encoded.body, Math.floor(Date.now() / 1000)));
  }
  try {
    const response = await fetch(endpoint.url, {
      method: 'POST',
      headers,
      body: encoded.body,
      redirect: 'follow',
      signal: AbortSignal.any([AbortSignal.timeout(Math.max(endpoint.timeout, 1)), ...(stop ? [stop] : [])]),
    });
    // The answer's body is not needed; reading it frees the connection for the next delivery.
    await response.arrayBuffer().catch(() => undefined);
    const delivered = response.status >= 200 && response.status < 400;
    return { delivered, status: response.status, reason: delivered ? undefined : `HTTP ${response.status}` };
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return { delivered: false, reason: cause?.code ?? cause?.message ?? (error as Error).message };
  }
}
