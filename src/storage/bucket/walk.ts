/**
 * `walk` for the drivers over object storage: one delimited listing per folder gives every child
 * with its size and time, so no child needs a `stat` of its own.
 */
import { PathNotFoundError, type FileInfo, type WalkDecision } from '../driver.js';
import { pace } from '../pace.js';

/** A direct child of a folder, as a delimited listing shows it. */
export interface Entry {
  name: string;
  isDir: boolean;
  size: number;
  modTime: Date;
}

/**
 * Visits every file and folder below `path`, depth first, in lexical (byte) order. A folder
 * emptied while walking is passed over. Long runs of visits give the event loop turns (pace.ts):
 * one listing page holds thousands of entries.
 */
export async function walkEntries(
  list: (path: string) => Promise<Entry[]>,
  path: string,
  visit: (info: FileInfo) => WalkDecision | Promise<WalkDecision>,
): Promise<void> {
  const entries = (await list(path)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    await pace();
    const child = path === '/' ? `/${entry.name}` : `${path}/${entry.name}`;
    const decision = await visit({ path: child, size: entry.size, modTime: entry.modTime, isDir: entry.isDir });
    if (entry.isDir && decision !== 'skip') {
      try {
        await walkEntries(list, child, visit);
      } catch (error) {
        if (!(error instanceof PathNotFoundError)) throw error; // emptied while walking
      }
    }
  }
}
