/**
 * Appendable files on Azure Blob Storage: a file written with `writer()` (an upload's `data`) is
 * a block blob whose content is its list of committed blocks. Each append session stages the new
 * bytes as blocks (uncommitted, invisible to readers) and ends by committing the longer list in
 * one request, so readers see the file before or after a session, never half of one, and a
 * session that fails leaves the file as it was (the service drops blocks nobody commits). The
 * committed list is the whole state: any instance, or a restarted one, continues the upload.
 *
 * Shape of the block list, kept by every writer:
 *   [ big, big, …, big, small, small, … ]
 * every "big" block is at least MIN_BIG_BLOCK; the trailing "small" ones (what small PATCH
 * requests left) add up to less than the next big block. The moment they would reach it, they
 * are read back from the blob and staged again with the new bytes as one big block. A blob may
 * commit 50,000 blocks: big blocks are 4 MiB for the first 10,000, then twice that for the next
 * 10,000, and so on, so a file may grow past 1 TiB while a writer holds at most one block in memory
 * (4 MiB below 39 GiB).
 */
import { randomBytes } from 'node:crypto';

/** The service's limits for block blobs. */
export const BLOCK_LIMITS = {
  maxBlocks: 50_000,
  /** No staged block may be larger (since service version 2019-12-12). */
  maxBlockSize: 4000 * 1024 * 1024,
} as const;

/** Size of the first big blocks; a trailing block below it is small. */
export const MIN_BIG_BLOCK = 4 * 1024 * 1024;
/** Big blocks of one size before the size doubles. */
export const BLOCKS_PER_TIER = 10_000;
/** Small trailing blocks kept apart at most; beyond this they are merged into one. */
export const MAX_SMALL_BLOCKS = 64;

export interface Block {
  id: string;
  size: number;
}

/** The size a big block at position `index` is filled to before it is staged. */
export function blockSize(index: number): number {
  return Math.min(MIN_BIG_BLOCK * 2 ** Math.floor(index / BLOCKS_PER_TIER), BLOCK_LIMITS.maxBlockSize);
}

/** The largest file the schedule can hold in the service's 50,000 blocks (for docs and tests). */
export function capacity(): number {
  let total = 0;
  for (let index = 0; index < BLOCK_LIMITS.maxBlocks; index++) total += blockSize(index);
  return total;
}

/**
 * Block ids: every id of one blob must have the same length, so they are `b`, six digits of
 * position and 16 hex digits of randomness (a retried session never reuses an id), base64.
 */
const ID_PATTERN = /^b\d{6}-[0-9a-f]{16}$/;

export function blockId(index: number): string {
  return Buffer.from(`b${String(index).padStart(6, '0')}-${randomBytes(8).toString('hex')}`).toString('base64');
}

/** Whether a committed id is one of ours (a blob another writer assembled is taken as one whole). */
export function isOwnBlockId(id: string): boolean {
  return ID_PATTERN.test(Buffer.from(id, 'base64').toString('latin1'));
}

/** Index of the first trailing small block (blocks.length when there is none). */
export function smallTailStart(blocks: readonly Block[]): number {
  let start = blocks.length;
  while (start > 0 && blocks[start - 1]!.size < MIN_BIG_BLOCK) start--;
  return start;
}
