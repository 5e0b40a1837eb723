/**
 * Blob streams of the filesystem driver, on an open file descriptor with synchronous reads and
 * writes. A blob moves through in large pieces (a megabyte read at a time; each piece received
 * written as it arrives) and each piece is a page-cache copy of well under a millisecond, so
 * skipping libuv's thread pool saves a round trip per piece (250–500 µs on a busy two-core
 * machine) and the queueing of fs streams; the event loop is held for one piece at a time.
 */
import { closeSync, readSync, writeSync, writevSync } from 'node:fs';
import { Readable, Writable } from 'node:stream';

/** Reads `[start, end)` of an open file, then closes it. */
export class FileRangeReader extends Readable {
  private position: number;

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
    // A fresh buffer per piece: the socket may still hold the previous one.
    const buffer = Buffer.allocUnsafeSlow(length);
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

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    closeQuietly(this.fd);
    callback(error);
  }
}

/**
 * Appends to an open file (opened with O_APPEND), then closes it; `size` counts what was there
 * before. Pieces arrive as the network delivers them (often 16–64 KiB); those that arrive in the
 * same turn of the event loop are written together, with one system call, at the end of that turn
 * (or as soon as `batch` bytes have gathered). So a fast upload costs few calls, and what a slow
 * client has sent is on disk at once: upload progress (`GET` of an upload) counts it. What has not
 * reached the file when the stream fails is not written: the file holds a prefix of the body, and
 * `size` says how long.
 */
export class FileAppender extends Writable {
  private written = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private scheduled: NodeJS.Immediate | undefined;

  constructor(
    private readonly fd: number,
    private readonly existing: number,
    private readonly batch = 1024 * 1024,
  ) {
    super();
  }

  get size(): number {
    return this.existing + this.written;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.add(chunk);
    this.settle(callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    for (const { chunk } of chunks) this.add(chunk);
    this.settle(callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    callback(this.flush());
  }

  private add(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
  }

  /** Writes now when a batch has gathered; otherwise at the end of this turn of the event loop. */
  private settle(callback: (error?: Error | null) => void): void {
    if (this.pendingBytes >= this.batch) return callback(this.flush());
    this.scheduled ??= setImmediate(() => {
      this.scheduled = undefined;
      const error = this.flush();
      if (error) this.destroy(error);
    });
    callback();
  }

  /** Writes what is pending; returns the error instead of throwing it. */
  private flush(): Error | undefined {
    if (this.scheduled) {
      clearImmediate(this.scheduled);
      this.scheduled = undefined;
    }
    const buffers = this.pending;
    const total = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    if (buffers.length === 0) return undefined;
    try {
      const written = buffers.length === 1 ? writeFully(this.fd, buffers[0]!) : writevSync(this.fd, buffers);
      this.written += written;
      // A short write (rare: a full disk, a signal) finishes piece by piece, or throws.
      if (written < total) this.written += writeFully(this.fd, Buffer.concat(buffers).subarray(written));
      return undefined;
    } catch (error) {
      return error as Error;
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    this.pending = [];
    closeQuietly(this.fd);
    callback(error);
  }
}

function writeFully(fd: number, buffer: Buffer): number {
  let offset = 0;
  while (offset < buffer.length) offset += writeSync(fd, buffer, offset, buffer.length - offset);
  return offset;
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}
