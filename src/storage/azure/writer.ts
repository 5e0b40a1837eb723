/**
 * The append writer of the Azure driver (the layout is described in blocks.ts). One writer is one
 * append session, typically one PATCH request of a chunked upload:
 *
 * - on open it reads the blob's committed block list;
 * - incoming bytes are held in memory until they make a big block, which is then staged (folding
 *   in the small trailing blocks of earlier sessions, read back from the blob);
 * - on end, what is left is staged as one more block, and the new block list is committed in one
 *   request, conditional on the blob being as it was opened (If-Match), so two writers racing on
 *   one file cannot interleave;
 * - a session that fails commits nothing: the file keeps its earlier content, and the blocks it
 *   staged are dropped by the service.
 *
 * Content no block of ours holds (a blob written whole with `putContent`, or assembled by another
 * writer) is staged again, read from the blob, as the start of the first new block.
 */
import { Readable, Writable } from 'node:stream';
import type { FileWriter } from '../driver.js';
import { isConditionFailed, isMissing, type Blobs } from './blobs.js';
import {
  blockId,
  blockSize,
  isOwnBlockId,
  MAX_SMALL_BLOCKS,
  MIN_BIG_BLOCK,
  smallTailStart,
  type Block,
} from './blocks.js';

interface Opened {
  /** The blob's version when opened; undefined when there was no blob. */
  etag?: string;
  size: number;
  /** Committed big blocks; they stay as they are. */
  kept: Block[];
  /** Committed small trailing blocks; folded into the next big block. */
  tail: Block[];
  /** Bytes at the end of the blob held by no block of ours; staged again before anything else. */
  loose: number;
}

async function readState(blobs: Blobs, name: string, path: string): Promise<Opened> {
  const client = blobs.settings.container.getBlockBlobClient(name);
  let list: Awaited<ReturnType<typeof client.getBlockList>>;
  try {
    list = await client.getBlockList('committed');
  } catch (error) {
    if (isMissing(error)) return { size: 0, kept: [], tail: [], loose: 0 };
    if ((error as { code?: string }).code === 'InvalidBlobType')
      throw new Error(`${path} is not a block blob: Berth appends only to block blobs`);
    throw error;
  }
  const size = list.blobContentLength ?? 0;
  const etag = list.etag ?? '';
  const blocks = (list.committedBlocks ?? []).map((block) => ({ id: block.name, size: block.size }));
  const listed = blocks.reduce((sum, block) => sum + block.size, 0);
  if (listed !== size || !blocks.every((block) => isOwnBlockId(block.id))) {
    return { etag, size, kept: [], tail: [], loose: size };
  }
  const split = smallTailStart(blocks);
  return { etag, size, kept: blocks.slice(0, split), tail: blocks.slice(split), loose: 0 };
}

export async function openWriter(blobs: Blobs, name: string, path: string): Promise<FileWriter> {
  return new BlockWriter(blobs, name, await readState(blobs, name, path));
}

class BlockWriter extends Writable implements FileWriter {
  private readonly kept: Block[];
  private tail: Block[];
  private loose: number;
  /** Blocks this session staged, in order. */
  private readonly added: Block[] = [];
  /** Bytes that arrived and are not staged yet. */
  private held: Buffer[] = [];
  private heldBytes = 0;
  private readonly baseSize: number;
  private accepted = 0;

  constructor(
    private readonly blobs: Blobs,
    private readonly name: string,
    private readonly opened: Opened,
  ) {
    super({ highWaterMark: 1024 * 1024 });
    this.kept = opened.kept;
    this.tail = opened.tail;
    this.loose = opened.loose;
    this.baseSize = opened.size;
  }

  get size(): number {
    return this.baseSize + this.accepted;
  }

  /** Committed bytes at the end of the blob that the next staged block takes in. */
  private get tailBytes(): number {
    return this.loose + this.tail.reduce((sum, block) => sum + block.size, 0);
  }

  /** Size the next big block is filled to (tail included). */
  private get target(): number {
    return blockSize(this.kept.length + this.added.length);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.take(chunk).then(
      () => callback(),
      (error: Error) => callback(error),
    );
  }

  private async take(chunk: Buffer): Promise<void> {
    this.accepted += chunk.length;
    let rest = chunk;
    while (rest.length > 0) {
      if (this.tailBytes + this.heldBytes >= this.target) {
        await this.stage();
        continue;
      }
      const room = this.target - this.tailBytes - this.heldBytes;
      const part = rest.length > room ? rest.subarray(0, room) : rest;
      this.held.push(part);
      this.heldBytes += part.length;
      rest = rest.subarray(part.length);
    }
    if (this.tailBytes + this.heldBytes >= this.target) await this.stage();
  }

  /** Stages the tail (read back from the blob) and the held bytes as one block. */
  private async stage(): Promise<void> {
    const tailBytes = this.tailBytes;
    const held = this.held;
    const block = { id: blockId(this.kept.length + this.added.length), size: tailBytes + this.heldBytes };
    // A function, so that the SDK can send the body again when it retries.
    const body = () => Readable.from(this.tailThen(tailBytes, held), { objectMode: false });
    await this.blobs.settings.container.getBlockBlobClient(this.name).stageBlock(block.id, body, block.size);
    this.added.push(block);
    this.tail = [];
    this.loose = 0;
    this.held = [];
    this.heldBytes = 0;
  }

  /** The last `tailBytes` of the blob as opened, then `held`. */
  private async *tailThen(tailBytes: number, held: readonly Buffer[]): AsyncGenerator<Buffer> {
    if (tailBytes > 0) {
      const { body } = await this.blobs.get(this.name, this.baseSize - tailBytes, tailBytes);
      for await (const chunk of body) yield chunk as Buffer;
    }
    yield* held;
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.finish().then(
      () => callback(),
      (error: Error) => callback(error),
    );
  }

  private async finish(): Promise<void> {
    if (this.accepted === 0) return; // nothing written: the file stays exactly as it was
    if (this.heldBytes > 0 || this.loose > 0) {
      const foldTail =
        this.loose > 0 || this.tailBytes + this.heldBytes >= MIN_BIG_BLOCK || this.tail.length + 1 > MAX_SMALL_BLOCKS;
      if (foldTail) {
        await this.stage();
      } else {
        // One more small block after the tail, which stays committed as it is.
        const tail = this.tail;
        this.tail = [];
        await this.stage();
        this.tail = tail;
      }
    }
    const ids = [...this.kept, ...this.tail, ...this.added].map((block) => block.id);
    const conditions = this.opened.etag === undefined ? { ifNoneMatch: '*' } : { ifMatch: this.opened.etag };
    try {
      await this.blobs.settings.container.getBlockBlobClient(this.name).commitBlockList(ids, {
        conditions,
        blobHTTPHeaders: { blobContentType: 'application/octet-stream' },
      });
    } catch (error) {
      if (isConditionFailed(error)) throw new Error(`${this.name} changed while it was appended to`);
      throw error;
    }
  }
}
