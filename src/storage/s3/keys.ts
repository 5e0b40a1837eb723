/**
 * From driver paths to object keys, as Distribution's S3 driver joins them: `rootdirectory`
 * (without surrounding slashes) + path, leading slash dropped. So both registries address the
 * same objects in a shared bucket.
 *
 * The driver keeps objects of its own beside the tree (pieces of files being appended to, the
 * repository index). Their keys hold a `~`, a character no driver path may contain
 * (driver.ts), so they never collide with a registry file and listings leave them out.
 */
import { PathNotFoundError } from '../driver.js';

/** Marks a key component as the driver's own; such components are hidden from listings. */
export const PRIVATE_MARK = '~';

/** Pieces of an appendable file `<key>` live under `<key>~pieces/`. */
export const PIECES_SUFFIX = `${PRIVATE_MARK}pieces`;

/** The driver's private area beside `docker/` under the root: `<root>/~berth/…`. */
export const PRIVATE_AREA = `${PRIVATE_MARK}berth`;

export class KeyMapper {
  constructor(private readonly prefix: string) {}

  /** The object key of a (validated) driver path; `/` maps to the root prefix itself. */
  key(path: string): string {
    const joined = this.prefix ? `${this.prefix}${path === '/' ? '' : path}` : path.slice(1);
    return joined;
  }

  /** The listing prefix of a folder: its key and a slash (or the bucket root). */
  folder(path: string): string {
    const key = this.key(path);
    return key === '' ? '' : `${key}/`;
  }

  /** A key in the private area: `<root>/~berth/<rest>`. */
  privateKey(rest: string): string {
    return this.prefix ? `${this.prefix}/${PRIVATE_AREA}/${rest}` : `${PRIVATE_AREA}/${rest}`;
  }

  /** The driver path of a key below the root. */
  path(key: string): string {
    const relative = this.prefix ? key.slice(this.prefix.length) : `/${key}`;
    return relative === '' ? '/' : relative;
  }
}

/** Whether a key, relative to some folder, names something of the driver's own. */
export function isPrivate(relative: string): boolean {
  return relative.includes(PRIVATE_MARK);
}

interface SdkError {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

function statusOf(error: unknown): number | undefined {
  return (error as SdkError | undefined)?.$metadata?.httpStatusCode;
}

/** S3's "no such object" in its several spellings (GET: NoSuchKey, HEAD: NotFound, bare 404). */
export function isMissing(error: unknown): boolean {
  const name = (error as SdkError | undefined)?.name;
  return name === 'NoSuchKey' || name === 'NotFound' || (statusOf(error) === 404 && name !== 'NoSuchBucket');
}

/** S3's answer to a Range that starts at or past the end of the object. */
export function isInvalidRange(error: unknown): boolean {
  return (error as SdkError | undefined)?.name === 'InvalidRange' || statusOf(error) === 416;
}

/** Runs an S3 call, turning "no such object" into the driver's PathNotFoundError. */
export async function orNotFound<T>(path: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (isMissing(error)) throw new PathNotFoundError(path);
    throw error;
  }
}
