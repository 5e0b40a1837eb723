/**
 * Folders on Blob Storage. A container has blobs, not folders: a folder exists while some blob's
 * name starts with its prefix (so a folder whose last file is deleted is gone, as with
 * Distribution's Azure driver). Listings use the "/" delimiter, one request per 5,000 entries,
 * and leave out the driver's own blobs (bucket/keys.ts).
 */
import { PathNotFoundError, type FileInfo } from '../driver.js';
import { isPrivate, type KeyMapper } from '../bucket/keys.js';
import type { Entry } from '../bucket/walk.js';
import type { Blobs } from './blobs.js';

/** How many blobs `stat` of a folder looks at for its modification time. */
const FOLDER_SAMPLE = 1000;

/**
 * The direct children of a folder. Throws PathNotFoundError when nothing (visible) is below it.
 * A name that is both a file and a folder (possible in a container, not in a filesystem) is a
 * file here.
 */
export async function listEntries(blobs: Blobs, keys: KeyMapper, path: string): Promise<Entry[]> {
  const prefix = keys.folder(path);
  const files = new Map<string, Entry>();
  const folders = new Map<string, Entry>();
  const now = new Date();
  for await (const page of blobs.hierarchy(prefix)) {
    for (const blob of page.blobs) {
      const name = blob.name.slice(prefix.length);
      if (name === '' || isPrivate(name)) continue; // "" is a folder marker some tools write
      const { contentLength, lastModified } = blob.properties;
      files.set(name, { name, isDir: false, size: contentLength ?? 0, modTime: lastModified ?? now });
    }
    for (const folder of page.prefixes) {
      const name = folder.slice(prefix.length, -1);
      if (name === '' || isPrivate(name)) continue;
      // A folder's own time is not stored; "now" keeps age-based cleanups from taking it as old.
      folders.set(name, { name, isDir: true, size: 0, modTime: now });
    }
  }
  for (const name of files.keys()) folders.delete(name);
  if (files.size === 0 && folders.size === 0) throw new PathNotFoundError(path);
  return [...files.values(), ...folders.values()];
}

/** A folder's info, or undefined when no visible blob is below it. */
export async function statFolder(blobs: Blobs, keys: KeyMapper, path: string): Promise<FileInfo | undefined> {
  const prefix = keys.folder(path);
  for await (const page of blobs.flat(prefix, FOLDER_SAMPLE)) {
    const visible = page.filter((blob) => !isPrivate(blob.name.slice(prefix.length)));
    if (visible.length === 0) return undefined;
    const newest = Math.max(...visible.map((blob) => blob.properties.lastModified?.getTime() ?? 0));
    return { path, size: 0, modTime: new Date(newest), isDir: true };
  }
  return undefined;
}
