/** Writing a whole small file so that readers see the old content or the new, never a part. */
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

function isMissing(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as NodeJS.ErrnoException).code === 'ENOENT';
}

/** Writes `content` to `temp` (on the same filesystem), then renames it onto `file`. */
export function writeFileAtomically(file: string, temp: string, content: Buffer | string): void {
  try {
    try {
      writeFileSync(temp, content);
    } catch (error) {
      if (!isMissing(error)) throw error;
      mkdirSync(dirname(temp), { recursive: true }); // the first write, or the folder was removed
      writeFileSync(temp, content);
    }
    // Most writes land in an existing folder: try the rename first, create folders on ENOENT.
    try {
      renameSync(temp, file);
    } catch (error) {
      if (!isMissing(error)) throw error;
      mkdirSync(dirname(file), { recursive: true });
      renameSync(temp, file);
    }
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}
