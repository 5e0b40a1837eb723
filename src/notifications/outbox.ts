/**
 * The durable outbox: one small file per event and endpoint in the registry's own storage
 * (`_berth/events/<endpoint>/pending/<key>`), written before the client is answered and removed
 * once the endpoint took it; undeliverable ones move to `dead/`. The storage driver writes each
 * file atomically, so a crash leaves an event either recorded whole or not at all, and every
 * instance sharing the storage sees the same outbox.
 *
 * Keys sort in the order events were recorded: milliseconds, a counter within the millisecond,
 * and the instance, so delivery in key order is delivery in the order things happened.
 */
import { createHash } from 'node:crypto';
import type { StorageDriver } from '../storage/driver.js';
import { isNotFound } from '../storage/driver.js';
import * as paths from '../storage/paths.js';
import type { RegistryEvent } from './event.js';

export type OutboxState = 'pending' | 'dead';

/** What one outbox file holds. */
export interface OutboxEntry {
  /** The endpoint's configured name. */
  endpoint: string;
  /** When the event was recorded (ms since the epoch): its age decides when retries stop. */
  recordedAt: number;
  /** When it was last queued again from the dead letters: its retries count from then. */
  replayedAt?: number;
  event: RegistryEvent;
}

const KEY_PATTERN = /^\d{14}-\d{6}-[0-9a-f]{8}\.json$/;

/** A storage-safe folder name for an endpoint name: itself when safe, else a cleaned form plus a hash. */
export function endpointFolder(name: string): string {
  if (/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(name) && name.length <= 100) return name;
  const cleaned = name
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .replace(/^\.+/, '_')
    .slice(0, 60);
  return `${cleaned}-${createHash('sha256').update(name).digest('hex').slice(0, 12)}`;
}

/** Makes keys that sort in recording order within this process, and after an earlier run's. */
export class KeyMaker {
  private lastMs = 0;
  private sequence = 0;

  constructor(private readonly instance: string) {}

  next(now = Date.now()): string {
    if (now > this.lastMs) {
      this.lastMs = now;
      this.sequence = 0;
    } else {
      this.sequence += 1;
      if (this.sequence > 999_999) {
        this.lastMs += 1;
        this.sequence = 0;
      }
    }
    return `${String(this.lastMs).padStart(14, '0')}-${String(this.sequence).padStart(6, '0')}-${this.instance}.json`;
  }
}

export class Outbox {
  constructor(private readonly driver: StorageDriver) {}

  async add(endpoint: string, key: string, entry: OutboxEntry): Promise<void> {
    await this.driver.putContent(paths.eventFile(endpointFolder(endpoint), 'pending', key), JSON.stringify(entry));
  }

  /** Keys in an endpoint's folder, oldest first. */
  async keys(endpoint: string, state: OutboxState): Promise<string[]> {
    try {
      const names = await this.driver.list(paths.eventsFolder(endpointFolder(endpoint), state));
      return names.filter((name) => KEY_PATTERN.test(name)).sort();
    } catch (error) {
      if (isNotFound(error)) return [];
      throw error;
    }
  }

  /** The entry, or undefined when it is gone (delivered, or moved, by another process). */
  async read(endpoint: string, state: OutboxState, key: string): Promise<OutboxEntry | undefined> {
    try {
      const bytes = await this.driver.getContent(paths.eventFile(endpointFolder(endpoint), state, key));
      return JSON.parse(bytes.toString('utf8')) as OutboxEntry;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Removes an entry; false when it was already gone. */
  async remove(endpoint: string, state: OutboxState, key: string): Promise<boolean> {
    try {
      await this.driver.delete(paths.eventFile(endpointFolder(endpoint), state, key));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  /** Moves an entry between pending and dead, keeping its key (and so its place in the order). */
  async move(endpoint: string, from: OutboxState, to: OutboxState, key: string): Promise<boolean> {
    const folder = endpointFolder(endpoint);
    try {
      await this.driver.move(paths.eventFile(folder, from, key), paths.eventFile(folder, to, key));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  /**
   * Queues a dead letter again under its key (so in its place in the order), with its retries
   * counting from now; false when it is gone.
   */
  async replay(endpoint: string, key: string, now = Date.now()): Promise<boolean> {
    const entry = await this.read(endpoint, 'dead', key);
    if (!entry) return false;
    const folder = endpointFolder(endpoint);
    await this.driver.putContent(
      paths.eventFile(folder, 'pending', key),
      JSON.stringify({ ...entry, replayedAt: now }),
    );
    return this.remove(endpoint, 'dead', key);
  }

  /** A small file beside an endpoint's folders (its delivery lease). */
  leasePath(endpoint: string): string {
    return `${paths.EVENTS_ROOT}/${endpointFolder(endpoint)}/lease`;
  }
}
