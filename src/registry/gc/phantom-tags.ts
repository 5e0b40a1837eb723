/**
 * Tags left half-written by a crash: a tag is written as its history link, then its current
 * link (tags.ts), so a process killed between the two leaves a tag folder that names nothing.
 * `tags/list` already leaves such a tag out; a collection run removes its folder, once nothing
 * in it was written for PHANTOM_MIN_AGE_MS (a tag write in progress takes milliseconds between
 * its two links, and rewrites the history link, which makes the folder young again).
 */
import type { StorageDriver } from '../../storage/driver.js';
import * as paths from '../../storage/paths.js';
import type { TagStore } from '../tags.js';
import type { RepositoryScan } from './scan.js';

/** How long a tag folder without a current link must be left untouched before it is removed. */
export const PHANTOM_MIN_AGE_MS = 60_000;

/** The newest modification time of anything in a tag's folder, on the storage's clock. */
async function lastWritten(driver: StorageDriver, name: string, tag: string): Promise<number> {
  const folder = paths.tagFolder(name, tag);
  let newest = (await driver.stat(folder)).modTime.getTime();
  await driver.walk(folder, (info) => {
    newest = Math.max(newest, info.modTime.getTime());
  });
  return newest;
}

/** Removes every phantom tag the scans found that is older than the bound; returns how many. */
export async function removePhantomTags(
  driver: StorageDriver,
  tags: TagStore,
  scans: Iterable<RepositoryScan>,
  /** The run's start, on the storage's clock. */
  start: number,
): Promise<number> {
  let removed = 0;
  for (const scan of scans) {
    for (const tag of scan.phantomTags) {
      try {
        if (start - (await lastWritten(driver, scan.name, tag)) < PHANTOM_MIN_AGE_MS) continue;
      } catch {
        continue; // removed or rewritten meanwhile
      }
      if (await tags.removePhantom(scan.name, tag)) removed++;
    }
  }
  return removed;
}
