/** What a test can check on disk: the storage tree under a registry root, in Distribution's layout. */
import { existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

export const V2 = join('docker', 'registry', 'v2');

/** Every file and folder below `dir`, as sorted relative paths (folders end with "/"). */
export function listTree(dir: string): string[] {
  const entries: string[] = [];
  const visit = (folder: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const full = join(folder, entry.name);
      if (entry.isDirectory()) {
        entries.push(`${relative(dir, full)}/`);
        visit(full);
      } else {
        entries.push(relative(dir, full));
      }
    }
  };
  if (existsSync(dir)) visit(dir);
  return entries.sort();
}

/** The data file a blob with this digest has under a registry root. */
export function blobDataPath(root: string, digest: string): string {
  const [algorithm, hex] = digest.split(':') as [string, string];
  return join(root, V2, 'blobs', algorithm, hex.slice(0, 2), hex, 'data');
}

/** Every blob data file under a registry root, as digests. */
export function storedBlobDigests(root: string): string[] {
  const blobs = join(root, V2, 'blobs');
  return listTree(blobs)
    .filter((path) => path.endsWith('/data'))
    .map((path) => {
      const [algorithm, , hex] = path.split('/') as [string, string, string];
      return `${algorithm}:${hex}`;
    });
}

export function repositoryPath(root: string, name: string): string {
  return join(root, V2, 'repositories', ...name.split('/'));
}
