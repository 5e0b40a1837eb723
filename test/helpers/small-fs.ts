/**
 * A small filesystem of its own (tmpfs, mounted for one suite), so a test can fill it up and see
 * what the registry does on ENOSPC without filling the machine's disk. Mounting needs root (as on
 * CI's Debian machine); elsewhere the suite is skipped loudly, and under CI=true it fails instead.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { describe, type SuiteFn } from 'node:test';
import { tempDir } from './berth.js';
import { describeUnless, loudSkipMessage } from './tools.js';

export interface SmallFs {
  path: string;
  /** Bytes a writer may still use. */
  free(): number;
  /** Fills the filesystem to the last block with `file`, leaving `leave` bytes free. */
  fill(file: string, leave?: number): void;
  unmount(): void;
}

/** Mounts a tmpfs of `bytes`; the reason as a string when it cannot be mounted here. */
export function mountSmallFs(bytes: number): SmallFs | string {
  const path = tempDir('berth-smallfs-');
  const result = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0700`, 'tmpfs', path], {
    encoding: 'utf8',
  });
  if (result.error || result.status !== 0) {
    rmSync(path, { recursive: true, force: true });
    return `mount -t tmpfs failed (needs root): ${result.error?.message ?? result.stderr.trim()}`;
  }
  const free = () => {
    const stats = statfsSync(path);
    return stats.bavail * stats.bsize;
  };
  return {
    path,
    free,
    fill(file, leave = 0) {
      const fd = openSync(file, 'a');
      const block = Buffer.alloc(4096, 0xee);
      try {
        while (free() > leave) writeSync(fd, block, 0, Math.min(block.length, free() - leave));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
      } finally {
        closeSync(fd);
      }
    },
    unmount() {
      spawnSync('umount', [path]);
      rmSync(path, { recursive: true, force: true });
    },
  };
}

/** A suite that needs a small filesystem: skipped loudly without one, failing under CI=true. */
export function describeWithSmallFs(name: string, bytes: number, fn: (fs: () => SmallFs) => SuiteFn): void {
  const probe = mountSmallFs(1024 * 1024);
  const reason = typeof probe === 'string' ? probe : undefined;
  if (typeof probe !== 'string') probe.unmount();
  if (reason && process.env.CI !== 'true') {
    const message = `suite "${name}" SKIPPED: ${reason}`;
    loudSkipMessage([message, 'Run the tests as root to mount the small filesystem; under CI=true it fails instead.']);
    describeUnless(message, name, () => undefined);
    return;
  }
  let mounted: SmallFs | undefined;
  const get = () => {
    if (!mounted) {
      const made = mountSmallFs(bytes);
      if (typeof made === 'string') throw new Error(`CI=true requires a small filesystem: ${made}`);
      mounted = made;
    }
    return mounted;
  };
  describe(name, fn(get));
}
