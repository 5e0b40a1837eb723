/**
 * Blob streams of the filesystem driver, on an open file descriptor. Reads are synchronous, a
 * megabyte at a time: a page-cache copy of well under a millisecond, where a trip through libuv's
 * thread pool costs 250–500 µs on a busy two-core machine; the event loop is held for one piece at
 * a time. Appends go through the thread pool while a core is free for them (see FileAppender):
 * there the copy is slow enough that running it beside the receiving and hashing pays.
 */
import { closeSync, readSync, writev, writeSync, writevSync } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import type { RecyclingReader } from '../driver.js';

/** Chunks handed back and kept for reuse, per reader: what the socket and the stream hold at once. */
const MAX_SPARE_CHUNKS = 4;

/** Reads `[start, end)` of an open file, then closes it. Chunks can be handed back (RecyclingReader). */
export class FileRangeReader extends Readable implements RecyclingReader {
  private position: number;
  private readonly spare: Buffer[] = [];

  constructor(
    private readonly fd: number,
    start: number,
    private readonly end: number,
    private readonly chunk: number,
  ) {
    super({ highWaterMark: chunk });
    this.position = start;
  }

  override _read(): void {
    const length = Math.min(this.chunk, this.end - this.position);
    if (length <= 0) {
      this.push(null);
      return;
    }
    // A chunk handed back, or a fresh buffer: the consumer may still hold the previous pieces.
    const buffer = (length === this.chunk && this.spare.pop()) || Buffer.allocUnsafeSlow(length);
    let read: number;
    try {
      read = readSync(this.fd, buffer, 0, length, this.position);
    } catch (error) {
      this.destroy(error as Error);
      return;
    }
    if (read === 0) {
      this.push(null); // the file ended early (it was truncated while we read)
      return;
    }
    this.position += read;
    this.push(read === length ? buffer : buffer.subarray(0, read));
  }

  recycle(chunk: Buffer): void {
    // Whole pieces only: a short last piece is a view of a larger buffer.
    if (chunk.length !== this.chunk || chunk.byteOffset !== 0 || chunk.buffer.byteLength !== this.chunk) return;
    if (this.spare.length < MAX_SPARE_CHUNKS && !this.destroyed) this.spare.push(chunk);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.spare.length = 0;
    closeQuietly(this.fd);
    callback(error);
  }
}

/**
 * Where appends are written: on libuv's thread pool, beside the event loop, or inline on the event
 * loop as each piece arrives. The thread pool pays when a core is free to run the copy into the
 * page cache while this thread receives and hashes the next pieces. When every core is busy (other
 * processes, a CPU-bound neighbour), each write waits to be scheduled on a pool thread and then for
 * the event loop to be scheduled to hear it is done, and an upload crawls at the pace of those
 * hand-offs; writing inline, while the piece is still in the CPU's cache, is then faster (rows 1c
 * and 2c of docs/performance.md). A stream that the pool kept waiting says so here, and for a
 * while every new stream writes inline; then the pool is tried again.
 */
export class WritePlacement {
  private inlineUntil = 0;

  /** Whether a stream starting now writes inline. */
  inline(): boolean {
    return performance.now() < this.inlineUntil;
  }

  /** A stream waited for the pool: new streams write inline for a while. */
  poolFellBehind(): void {
    this.inlineUntil = performance.now() + POOL_RETRY_MS;
  }
}

/** How long new streams write inline after the pool fell behind, before it is tried again. */
const POOL_RETRY_MS = 5_000;
/**
 * A stream held back this long for a pool write has found the pool slower than the event loop: on
 * a quiet machine a 1 MiB write completes in about a millisecond, before the next megabyte has
 * arrived and been hashed.
 */
const POOL_BEHIND_MS = 4;

export const writePlacement = new WritePlacement();

/**
 * Appends to an open file (opened with O_APPEND), then closes it; `size` counts what was there
 * before. Pieces arrive as the network delivers them (often 16–64 KiB). On the thread pool they
 * are gathered and written with one `writev` at a time, so the copy into the page cache (the
 * slowest step of a push: fresh pages cost about 1.5 s per GB here) runs on a second core while
 * this thread receives and hashes the next pieces. A write starts at the end of the turn of the
 * event loop in which pieces arrived, or as soon as `batch` bytes have gathered, so what a slow
 * client has sent is on disk at once: upload progress (`GET` of an upload) counts it. Once `batch`
 * bytes wait beside the write in flight, the stream stops taking more (backpressure on the
 * socket): an upload holds about two batches in memory at most. When that wait is long (every
 * core busy, see WritePlacement), the stream lets the write in flight finish and from then on
 * writes each piece inline as it arrives, holding none. When the stream fails, a write already
 * started still completes, then the file is closed: the file holds a prefix of the body, and
 * `size` says how long.
 */
export class FileAppender extends Writable {
  private written = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private writing = false;
  private inline: boolean;
  private scheduled: NodeJS.Immediate | undefined;
  /** A write callback held back while too many bytes wait: released as writes complete. */
  private held: ((error?: Error | null) => void) | undefined;
  private heldSince = 0;
  /** `_final`'s callback, waiting for everything pending to be written. */
  private finishing: ((error?: Error | null) => void) | undefined;
  /** `_destroy`'s continuation, waiting for the write in flight before the file is closed. */
  private closing: (() => void) | undefined;
  private failure: Error | undefined;

  constructor(
    private readonly fd: number,
    private readonly existing: number,
    private readonly batch = 1024 * 1024,
    private readonly placement = writePlacement,
  ) {
    super();
    this.inline = placement.inline();
  }

  get size(): number {
    return this.existing + this.written;
  }

  /** Whether this stream now writes inline (see WritePlacement). */
  get writesInline(): boolean {
    return this.inline;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.add(chunk);
    this.accept(callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    for (const { chunk } of chunks) this.add(chunk);
    this.accept(callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.failure) {
      callback(this.failure);
      return;
    }
    if (!this.writing && this.pendingBytes === 0) {
      callback();
      return;
    }
    this.finishing = callback;
    if (!this.writing) this.startWrite();
  }

  private add(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
  }

  private accept(callback: (error?: Error | null) => void): void {
    if (this.failure) {
      callback(this.failure);
      return;
    }
    if (this.inline && !this.writing) {
      callback(this.writeInline());
      return;
    }
    this.kick();
    if (this.pendingBytes >= this.batch) {
      this.held = callback;
      this.heldSince = performance.now();
    } else {
      callback();
    }
  }

  /** Writes everything pending on this thread; returns the error that ends the stream, if one does. */
  private writeInline(): Error | undefined {
    try {
      while (this.pendingBytes > 0) {
        const buffers = this.pending;
        const total = this.pendingBytes;
        this.pending = [];
        this.pendingBytes = 0;
        const written = buffers.length === 1 ? writeSync(this.fd, buffers[0]!) : writevSync(this.fd, buffers);
        this.written += written;
        if (written < total) this.requeue(buffers, written);
      }
    } catch (error) {
      this.failure = error as Error;
      this.pending = [];
      this.pendingBytes = 0;
    }
    return this.failure;
  }

  /** Starts a write now when a batch has gathered; otherwise at the end of this turn. */
  private kick(): void {
    if (this.writing || this.pendingBytes === 0) return;
    if (this.pendingBytes >= this.batch) {
      this.startWrite();
      return;
    }
    this.scheduled ??= setImmediate(() => {
      this.scheduled = undefined;
      if (!this.writing && !this.destroyed && this.pendingBytes > 0) this.startWrite();
    });
  }

  private startWrite(): void {
    if (this.scheduled) {
      clearImmediate(this.scheduled);
      this.scheduled = undefined;
    }
    const buffers = this.pending;
    const total = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    this.writing = true;
    writev(this.fd, buffers, (error, written) => {
      this.writing = false;
      if (error) {
        this.failure = error;
      } else {
        this.written += written;
        // A short write (rare: a full disk, a signal): what is left goes first in the next write.
        if (written < total) this.requeue(buffers, written);
      }
      this.afterWrite();
    });
  }

  private requeue(buffers: Buffer[], skip: number): void {
    const rest: Buffer[] = [];
    for (const buffer of buffers) {
      if (skip >= buffer.length) {
        skip -= buffer.length;
        continue;
      }
      rest.push(skip > 0 ? buffer.subarray(skip) : buffer);
      skip = 0;
    }
    this.pending = [...rest, ...this.pending];
    this.pendingBytes = this.pending.reduce((sum, buffer) => sum + buffer.length, 0);
  }

  private afterWrite(): void {
    if (this.closing) {
      this.closing();
      return;
    }
    if (this.failure) {
      this.release(this.failure);
      return;
    }
    if (this.held && !this.inline && performance.now() - this.heldSince > POOL_BEHIND_MS) {
      this.inline = true;
      this.placement.poolFellBehind();
    }
    if (this.inline) {
      // No write is in flight any more: what waits goes out here, and so does every later piece.
      this.release(this.writeInline());
      return;
    }
    if (this.pendingBytes > 0) this.startWrite();
    if (this.held && this.pendingBytes < this.batch) {
      const held = this.held;
      this.held = undefined;
      held();
    }
    if (!this.writing && this.finishing) this.release();
  }

  /** Answers the callbacks that wait: the held write and `_final`. */
  private release(error?: Error): void {
    const { held, finishing } = this;
    this.held = undefined;
    this.finishing = undefined;
    held?.(error);
    finishing?.(error);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    this.pending = [];
    this.pendingBytes = 0;
    this.held = undefined;
    this.finishing = undefined;
    const close = (): void => {
      closeQuietly(this.fd);
      callback(error);
    };
    // Closing the descriptor under a write in flight could let the write land in another file
    // that reuses the number: wait for it.
    if (this.writing) this.closing = close;
    else close();
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}
