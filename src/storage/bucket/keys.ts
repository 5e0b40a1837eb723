/**
 * From driver paths to object names in a bucket or container, as Distribution's S3 and Azure
 * drivers join them: `rootdirectory` (without surrounding slashes) + path, leading slash dropped.
 * So Berth and Distribution address the same objects when they share a bucket or container.
 *
 * A driver keeps objects of its own beside the tree (pieces of files being appended to, the
 * repository index). Their names hold a `~`, a character no driver path may contain
 * (driver.ts), so they never collide with a registry file and listings leave them out.
 */

/** Marks a key component as the driver's own; such components are hidden from listings. */
export const PRIVATE_MARK = '~';

/** The driver's private area beside `docker/` under the root: `<root>/~berth/…`. */
export const PRIVATE_AREA = `${PRIVATE_MARK}berth`;

export class KeyMapper {
  /** `rootdirectory` as configured; its surrounding slashes are dropped. */
  readonly prefix: string;

  constructor(rootdirectory: string) {
    this.prefix = rootdirectory.replace(/^\/+|\/+$/g, '');
  }

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
