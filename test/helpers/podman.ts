/** podman with a throwaway store: the global options that keep it off the machine's own storage. */
import { join } from 'node:path';

/** podman's global options for a private store under `root`. */
export function podmanOptions(root: string): string[] {
  return [
    '--root',
    join(root, 'storage'),
    '--runroot',
    join(root, 'run'),
    '--tmpdir',
    join(root, 'tmp'),
    '--storage-driver',
    'vfs',
    '--events-backend',
    'file',
    '--cgroup-manager',
    'cgroupfs',
    '--log-level',
    'error',
  ];
}
