/**
 * The event Distribution sends, field for field (its `notifications.Event`): the same names, the
 * same order, and the same omissions (Go's `omitempty` drops empty strings and zero numbers, so
 * a delete's target carries only `digest` and `repository`). What callers give (`EventInput`) is
 * completed here with an id, a timestamp and the source.
 */
import { randomUUID } from 'node:crypto';

export type EventAction = 'push' | 'pull' | 'mount' | 'delete';

/** A content descriptor as Distribution writes it inside a target (`references`). */
export interface EventDescriptor {
  mediaType?: string;
  size?: number;
  digest?: string;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Record<string, unknown>;
}

export interface EventTarget extends EventDescriptor {
  /** Same as size (Distribution keeps both). */
  length?: number;
  repository: string;
  /** The repository a blob was mounted from. */
  fromRepository?: string;
  url?: string;
  tag?: string;
  /** Descriptors a manifest references, with `notifications.events.includereferences`. */
  references?: EventDescriptor[];
}

export interface RequestRecord {
  id: string;
  /** The client's address and port. */
  addr?: string;
  /** The Host header the client sent. */
  host?: string;
  method: string;
  useragent: string;
}

export interface SourceRecord {
  /** This instance's host name and listening port. */
  addr?: string;
  instanceID?: string;
}

export interface RegistryEvent {
  id: string;
  timestamp: string;
  action: EventAction;
  target: EventTarget;
  request: RequestRecord;
  actor: { name?: string };
  source: SourceRecord;
}

/** What a caller records: the rest (id, time, source) is filled in by the notifier. */
export interface EventInput {
  action: EventAction;
  target: EventTarget;
  /** The HTTP request that caused the event; absent for Berth's own work (retention, GC). */
  request?: RequestRecord;
  /** Who caused it: the signed-in user. */
  actor?: { name?: string };
}

/** Go's omitempty: no empty strings, zero numbers, empty lists or maps. */
function present(value: unknown): boolean {
  if (value === undefined || value === null || value === '' || value === 0) return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return true;
}

function ordered<T extends object>(value: T, keys: readonly (keyof T)[]): T {
  const result: Partial<T> = {};
  for (const key of keys) if (present(value[key])) result[key] = value[key];
  return result as T;
}

const DESCRIPTOR_KEYS = ['mediaType', 'size', 'digest', 'urls', 'annotations', 'platform'] as const;
const TARGET_KEYS = [
  ...DESCRIPTOR_KEYS,
  'length',
  'repository',
  'fromRepository',
  'url',
  'tag',
  'references',
] as const satisfies readonly (keyof EventTarget)[];

function descriptor(value: EventDescriptor): EventDescriptor {
  return ordered(value, DESCRIPTOR_KEYS);
}

/** The target in Distribution's order; `length` follows `size`. */
export function wireTarget(target: EventTarget): EventTarget {
  const withLength = { ...target, length: target.length ?? target.size };
  const result = ordered(withLength, TARGET_KEYS);
  if (result.references) result.references = result.references.map(descriptor);
  return result;
}

/** `id`, `method` and `useragent` are always written, even empty, as Go does. */
function wireRequest(request: RequestRecord | undefined): RequestRecord {
  const record = request ?? { id: '', method: '', useragent: '' };
  const result: RequestRecord = { id: record.id } as RequestRecord;
  if (present(record.addr)) result.addr = record.addr;
  if (present(record.host)) result.host = record.host;
  result.method = record.method;
  result.useragent = record.useragent;
  return result;
}

/**
 * Go's RFC 3339 with nanoseconds, trailing zeros dropped: the milliseconds of the clock and the
 * sub-millisecond part of the monotonic timer (distinct for events in the same millisecond).
 */
export function goTimestamp(ms: number, subMillisecondNs: number): string {
  const iso = new Date(ms).toISOString(); // 2026-01-02T03:04:05.678Z
  const fraction = `${iso.slice(20, 23)}${String(subMillisecondNs).padStart(6, '0')}`.replace(/0+$/, '');
  return `${iso.slice(0, 19)}${fraction ? `.${fraction}` : ''}Z`;
}

export function completeEvent(input: EventInput, source: SourceRecord, now = Date.now()): RegistryEvent {
  return {
    id: randomUUID(),
    timestamp: goTimestamp(now, Number(process.hrtime.bigint() % 1_000_000n)),
    action: input.action,
    target: wireTarget(input.target),
    request: wireRequest(input.request),
    actor: ordered(input.actor ?? {}, ['name']),
    source: ordered(source, ['addr', 'instanceID']),
  };
}
