/**
 * Folders on object storage. S3 has keys, not folders: a folder exists while some key starts with
 * its prefix (so a folder whose last file is deleted is gone, as with Distribution's S3 driver).
 * Listings use S3's "/" delimiter, one request per 1,000 entries, and leave out the driver's own
 * objects (keys.ts). Appendable files show their logical size, read from their manifest.
 */
import { PathNotFoundError, type FileInfo } from '../driver.js';
import { isPrivate, type KeyMapper } from '../bucket/keys.js';
import type { Entry } from '../bucket/walk.js';
import { PIECES_SUFFIX } from './keys.js';
import type { Objects } from './objects.js';
import { isManifestMetadata, SIZE_METADATA } from './pieces.js';

/** How many keys `stat` of a folder looks at for its modification time. */
const FOLDER_SAMPLE = 1000;

/**
 * The direct children of a folder. Throws PathNotFoundError when nothing (visible) is below it.
 * A name that is both a file and a folder (possible in S3, not in a filesystem) is a file here.
 */
export async function listEntries(objects: Objects, keys: KeyMapper, path: string): Promise<Entry[]> {
  const prefix = keys.folder(path);
  const files = new Map<string, Entry>();
  const folders = new Map<string, Entry>();
  const appendable = new Set<string>();
  const now = new Date();
  for await (const page of objects.list(prefix, { delimiter: '/' })) {
    for (const object of page.objects) {
      const name = (object.Key ?? '').slice(prefix.length);
      if (name === '' || isPrivate(name)) continue; // "" is a folder marker some tools write
      files.set(name, { name, isDir: false, size: object.Size ?? 0, modTime: object.LastModified ?? now });
    }
    for (const common of page.prefixes) {
      const name = (common.Prefix ?? '').slice(prefix.length, -1);
      if (name.endsWith(PIECES_SUFFIX)) appendable.add(name.slice(0, -PIECES_SUFFIX.length));
      if (name === '' || isPrivate(name)) continue;
      // A folder's own time is not stored; "now" keeps age-based cleanups from taking it as old.
      folders.set(name, { name, isDir: true, size: 0, modTime: now });
    }
  }
  if (files.size === 0 && folders.size === 0) throw new PathNotFoundError(path);
  // Files kept as pieces: their listed size is the manifest's, the file's own is in its metadata.
  await Promise.all(
    [...appendable]
      .filter((name) => files.has(name))
      .map(async (name) => {
        const head = await objects.head(`${prefix}${name}`).catch(() => undefined);
        const entry = files.get(name)!;
        if (head && isManifestMetadata(head.metadata)) entry.size = Number(head.metadata[SIZE_METADATA] ?? 0);
      }),
  );
  for (const name of files.keys()) folders.delete(name);
  return [...files.values(), ...folders.values()];
}

/** A folder's info, or undefined when no visible key is below it. */
export async function statFolder(objects: Objects, keys: KeyMapper, path: string): Promise<FileInfo | undefined> {
  const prefix = keys.folder(path);
  const page = await objects.listPage(prefix, { maxKeys: FOLDER_SAMPLE });
  const visible = page.objects.filter((object) => !isPrivate((object.Key ?? '').slice(prefix.length)));
  if (visible.length === 0) return undefined;
  const newest = Math.max(...visible.map((object) => object.LastModified?.getTime() ?? 0));
  return { path, size: 0, modTime: new Date(newest), isDir: true };
}
