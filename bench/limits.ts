/** The machine's physical limits, measured in the same run for context. */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { MiB, mbPerSecond, secondsSince } from './stats.js';

/** SHA-256 of the file through a read stream (1 MiB chunks): Node's streamed hashing. */
export async function sha256Stream(file: string, size: number): Promise<number> {
  const start = process.hrtime.bigint();
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: MiB })) hash.update(chunk as Buffer);
  hash.digest();
  return mbPerSecond(size, secondsSince(start));
}

/** SHA-256 of 64 MiB already in memory: OpenSSL's own speed, without I/O. */
export function sha256Memory(): number {
  const buffer = randomBytes(64 * MiB);
  const start = process.hrtime.bigint();
  createHash('sha256').update(buffer).digest();
  return mbPerSecond(buffer.length, secondsSince(start));
}

/** Reading the file through a Node read stream (it was just written, so mostly the page cache). */
export async function readStream(file: string, size: number): Promise<number> {
  const start = process.hrtime.bigint();
  let bytes = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: MiB })) bytes += (chunk as Buffer).length;
  if (bytes !== size) throw new Error(`read ${bytes} of ${size} bytes`);
  return mbPerSecond(size, secondsSince(start));
}

/** Reading the file from the disk itself, bypassing the page cache (dd with O_DIRECT). */
export function readDirect(file: string, size: number): number | undefined {
  const start = process.hrtime.bigint();
  const result = spawnSync('dd', [`if=${file}`, 'of=/dev/null', 'bs=8M', 'iflag=direct'], { stdio: 'ignore' });
  if (result.status !== 0) return undefined;
  return mbPerSecond(size, secondsSince(start));
}
