/**
 * Registry events of an HTTP request (docs/notifications.md): what Distribution puts in `request`
 * and `actor`, the target URLs, and the calls route handlers make before they answer, so that
 * every acknowledged write is in the outbox first.
 */
import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import { apiPaths } from '../api/routes.js';
import type { Digest } from '../api/reference.js';
import { parseManifest, type ParsedManifest } from '../registry/manifests/parse.js';
import type { StoredManifest } from '../registry/manifests/store.js';
import type { EventAction, EventDescriptor, EventInput, EventTarget, RequestRecord } from '../notifications/event.js';
import { location, type Context } from './context.js';
import { hostHeader } from '../request/protocol.js';

/** Distribution gives every blob this media type in its events. */
const BLOB_MEDIA_TYPE = 'application/octet-stream';

function hostPort(address: string, port: number | undefined): string {
  if (port === undefined) return address;
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Distribution's RequestRecord: the client's address with its port, Host, method, User-Agent. */
function requestRecord(context: Context): RequestRecord {
  const { request } = context;
  const socket = request.raw.socket;
  // The peer's port, unless a trusted proxy named another client (then only its address is known).
  const peer = socket.remoteAddress?.replace(/^::ffff:/, '');
  const client = request.berth.clientAddress;
  return {
    id: randomUUID(),
    addr: hostPort(client, client === peer ? socket.remotePort : undefined),
    host: hostHeader(request.raw),
    method: request.method,
    useragent: request.headers['user-agent'] ?? '',
  };
}

/**
 * Records targets of this request's events; a no-op when no endpoint is configured. The events of
 * a write are stored before it resolves (the caller answers after it). A pull changes nothing
 * the client must be sure of, so its event is stored beside the answer rather than before it
 * (its place in the order is taken at once): a read never waits for a write.
 */
export async function notify(context: Context, action: EventAction, targets: EventTarget[]): Promise<void> {
  const notifier = context.events;
  if (!notifier?.enabled || targets.length === 0) return;
  const request = requestRecord(context);
  const actor = { name: context.request.berth.caller?.user };
  const inputs: EventInput[] = targets.map((target) => ({ action, target, request, actor }));
  const recorded = notifier.record(inputs);
  if (action !== 'pull') {
    await recorded;
    return;
  }
  recorded.catch((error: unknown) =>
    context.request.log.warn({ err: error }, 'notifications: pull event not recorded'),
  );
}

/** A blob event's target (push, pull, mount) as Distribution fills it in. */
export function blobTarget(context: Context, name: string, digest: Digest, size: number, from?: string): EventTarget {
  return {
    mediaType: BLOB_MEDIA_TYPE,
    size,
    digest: digest.value,
    repository: name,
    fromRepository: from,
    url: location(context, apiPaths.blob(name, digest.value)),
  };
}

/** What a manifest references: config then layers, or an index's manifests (with platforms). */
function references(
  manifest: Pick<ParsedManifest, 'kind' | 'bytes' | 'config' | 'layers' | 'manifests'>,
): EventDescriptor[] {
  const describe = (descriptor: { mediaType: string; size: number; digest: Digest; urls?: string[] }) => ({
    mediaType: descriptor.mediaType,
    size: descriptor.size,
    digest: descriptor.digest.value,
    urls: descriptor.urls,
  });
  if (manifest.kind === 'index') {
    const raw = JSON.parse(manifest.bytes.toString('utf8')) as { manifests?: { platform?: Record<string, unknown> }[] };
    return manifest.manifests.map((child, index) => ({
      ...describe(child),
      platform: raw.manifests?.[index]?.platform,
    }));
  }
  return [...(manifest.config ? [manifest.config] : []), ...manifest.layers].map(describe);
}

/** A manifest event's target (push, pull); `tag` when the client named one. */
export function manifestTarget(
  context: Context,
  name: string,
  manifest: StoredManifest,
  tag: string | undefined,
): EventTarget {
  let referenced: EventDescriptor[] | undefined;
  if (context.events?.includeReferences) {
    // Stored manifests were checked when pushed; one that no longer parses just lists nothing.
    try {
      referenced = references(parseManifest(manifest.bytes, manifest.mediaType, manifest.digest.algorithm));
    } catch {
      referenced = undefined;
    }
  }
  return {
    mediaType: manifest.mediaType,
    size: manifest.bytes.length,
    digest: manifest.digest.value,
    repository: name,
    url: location(context, apiPaths.manifest(name, manifest.digest.value)),
    tag,
    references: referenced,
  };
}
