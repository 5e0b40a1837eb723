/**
 * Reads one repository's links as garbage collection needs them: which digests each kind of
 * link names, and when each link was last written (its modification time, on the storage's
 * clock). Digests come from the link's path, as Distribution enumerates them; a folder whose
 * name is not a digest is skipped, never deleted.
 */
import { DIGEST_ALGORITHMS, isValidTag, parseDigest } from '../../api/reference.js';
import { isNotFound, type StorageDriver } from '../../storage/driver.js';
import * as paths from '../../storage/paths.js';
import { listIfPresent, readLink } from '../links.js';

/** Link modification times in milliseconds since the epoch, by digest. */
export type LinkTimes = Map<string, number>;

export interface RepositoryScan {
  name: string;
  /** `_manifests/revisions/…/link`: manifests stored in the repository. */
  revisions: LinkTimes;
  /** `_manifests/tags/<tag>/current/link`: the digest each tag names, and when it was written. */
  tags: Map<string, { digest: string; mtime: number }>;
  /** `_layers/…/link`: blobs visible in the repository. */
  layers: LinkTimes;
  /** `_referrers/<subject>/…/link`: referrer digests by subject digest. */
  referrers: Map<string, LinkTimes>;
  /** Tag folders without a current link (a crash between a tag's two link writes). */
  phantomTags: string[];
}

/** How many storage calls one scan keeps in flight. */
const PARALLEL = 16;

export async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

async function modTime(driver: StorageDriver, path: string): Promise<number | undefined> {
  try {
    const info = await driver.stat(path);
    return info.isDir ? undefined : info.modTime.getTime();
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** `<folder>/<alg>/<hex>/link` for every supported algorithm: digest → link time. */
export async function scanDigestLinks(driver: StorageDriver, folder: string): Promise<LinkTimes> {
  const found: LinkTimes = new Map();
  for (const algorithm of await listIfPresent(driver, folder)) {
    if (!(algorithm in DIGEST_ALGORITHMS)) continue;
    const hexes = await listIfPresent(driver, `${folder}/${algorithm}`);
    await mapLimit(hexes, PARALLEL, async (hex) => {
      const parsed = parseDigest(`${algorithm}:${hex}`);
      if (!parsed.ok) return;
      const mtime = await modTime(driver, `${folder}/${algorithm}/${hex}/link`);
      if (mtime !== undefined) found.set(parsed.digest.value, mtime);
    });
  }
  return found;
}

export async function scanRepository(driver: StorageDriver, name: string): Promise<RepositoryScan> {
  const [revisions, layers, { tags, phantomTags }, referrers] = await Promise.all([
    scanDigestLinks(driver, paths.revisionsRoot(name)),
    scanDigestLinks(driver, paths.layersRoot(name)),
    scanTags(driver, name),
    scanReferrers(driver, name),
  ]);
  return { name, revisions, tags, layers, referrers, phantomTags };
}

async function scanTags(
  driver: StorageDriver,
  name: string,
): Promise<{ tags: RepositoryScan['tags']; phantomTags: string[] }> {
  const tags: RepositoryScan['tags'] = new Map();
  const phantomTags: string[] = [];
  const names = (await listIfPresent(driver, paths.tagsRoot(name))).filter(isValidTag);
  await mapLimit(names, PARALLEL, async (tag) => {
    const link = paths.tagCurrentLink(name, tag);
    const mtime = await modTime(driver, link);
    const digest = mtime === undefined ? undefined : await readLink(driver, link);
    if (mtime !== undefined && digest) tags.set(tag, { digest: digest.value, mtime });
    else phantomTags.push(tag);
  });
  return { tags, phantomTags };
}

async function scanReferrers(driver: StorageDriver, name: string): Promise<RepositoryScan['referrers']> {
  const referrers: RepositoryScan['referrers'] = new Map();
  const root = `${paths.repository(name)}/_referrers`;
  for (const algorithm of await listIfPresent(driver, root)) {
    if (!(algorithm in DIGEST_ALGORITHMS)) continue;
    for (const hex of await listIfPresent(driver, `${root}/${algorithm}`)) {
      const subject = parseDigest(`${algorithm}:${hex}`);
      if (!subject.ok) continue;
      const links = await scanDigestLinks(driver, paths.referrersFolder(name, subject.digest));
      if (links.size > 0) referrers.set(subject.digest.value, links);
    }
  }
  return referrers;
}

export interface StoredBlob {
  size: number;
  /** When `data` was last written (a committed upload keeps the time of its last chunk). */
  mtime: number;
}

/** Every `blobs/<alg>/<xx>/<hex>/data` of a supported algorithm: digest → size and time. */
export async function scanBlobs(driver: StorageDriver): Promise<Map<string, StoredBlob>> {
  const blobs = new Map<string, StoredBlob>();
  for (const algorithm of await listIfPresent(driver, paths.BLOBS_ROOT)) {
    if (!(algorithm in DIGEST_ALGORITHMS)) continue;
    for (const prefix of await listIfPresent(driver, `${paths.BLOBS_ROOT}/${algorithm}`)) {
      const hexes = await listIfPresent(driver, `${paths.BLOBS_ROOT}/${algorithm}/${prefix}`);
      await mapLimit(hexes, PARALLEL, async (hex) => {
        const parsed = parseDigest(`${algorithm}:${hex}`);
        // A folder in the wrong place, or not named by a digest, is not ours to judge.
        if (!parsed.ok || hex.slice(0, 2) !== prefix) return;
        try {
          const info = await driver.stat(paths.blobData(parsed.digest));
          if (!info.isDir) blobs.set(parsed.digest.value, { size: info.size, mtime: info.modTime.getTime() });
        } catch (error) {
          if (!isNotFound(error)) throw error;
        }
      });
    }
  }
  return blobs;
}
