/** Link files: a digest as text, with no newline, as Distribution writes them. */
import { parseDigest, type Digest } from '../api/reference.js';
import { isNotFound, type StorageDriver } from '../storage/driver.js';

/** Reads a link; a missing or unreadable one is `undefined` (it links nothing). */
export async function readLink(driver: StorageDriver, path: string): Promise<Digest | undefined> {
  let content: Buffer;
  try {
    content = await driver.getContent(path);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
  const parsed = parseDigest(content.toString('utf8').trim());
  return parsed.ok ? parsed.digest : undefined;
}

export async function writeLink(driver: StorageDriver, path: string, digest: Digest): Promise<void> {
  await driver.putContent(path, digest.value);
}

/** Deletes a file or folder; returns false when it was not there. */
export async function deleteIfPresent(driver: StorageDriver, path: string): Promise<boolean> {
  try {
    await driver.delete(path);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

/** Lists a folder; a missing folder lists as empty. */
export async function listIfPresent(driver: StorageDriver, path: string): Promise<string[]> {
  try {
    return await driver.list(path);
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
}
