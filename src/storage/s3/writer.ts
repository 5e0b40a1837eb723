/**
 * The append writer of the S3 driver (the layout is described in pieces.ts). One writer is one
 * append session, typically one PATCH request of a chunked upload:
 *
 * - on open it reads the file's manifest (or the plain object it replaces);
 * - incoming bytes are held in memory until they make a big piece, which is then stored with one
 *   PutObject (folding in the small trailing pieces from earlier sessions, streamed back from S3);
 * - on end, what is left becomes a big piece when it (with the small tail) reaches S3's 5 MiB part
 *   minimum, otherwise one more small piece; then the manifest is replaced in one PutObject;
 * - a session that fails stores no manifest: the file keeps its earlier content, and the pieces
 *   this session stored are deleted.
 *
 * Memory: the bytes of one big piece at most (`chunksize`, doubling every 2,000 pieces, see
 * pieces.ts), and only as many as have arrived: a small PATCH holds only its own bytes.
 *
 * A writer assumes it is the only one appending to its file; the registry serialises the
 * requests of one upload (across instances through Redis when configured).
 */
import { randomUUID } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import type { FileWriter } from '../driver.js';
import { S3_LIMITS } from './client.js';
import type { ServerSideCopy } from './copy.js';
import { isMissing, PIECES_SUFFIX } from './keys.js';
import type { ObjectHead, Objects } from './objects.js';
import {
  emptyManifest,
  isManifestMetadata,
  manifestMetadata,
  MAX_SMALL_PIECES,
  parsePieceManifest,
  pieceSize,
  smallTailStart,
  type Piece,
  type PieceManifest,
} from './pieces.js';

interface Opened {
  manifest: PieceManifest;
  /** Whether `key` holds a plain object (its content is then the first piece, at `key` itself). */
  plain: boolean;
}

/** Reads what `key` holds now: a piece manifest, a plain object (as one piece), or nothing. */
async function readState(objects: Objects, key: string): Promise<Opened> {
  let head: ObjectHead;
  try {
    head = await objects.head(key);
  } catch (error) {
    if (isMissing(error)) return { manifest: emptyManifest(), plain: false };
    throw error;
  }
  if (isManifestMetadata(head.metadata))
    return { manifest: parsePieceManifest((await objects.getBuffer(key)).body), plain: false };
  const pieces = head.size > 0 ? [{ key, size: head.size }] : [];
  return { manifest: { version: 1, size: head.size, pieces }, plain: true };
}

/** The bytes of `pieces`, in order, streamed from S3 one piece after another. */
async function* piecesBody(
  objects: Objects,
  pieces: readonly Piece[],
  after: readonly Buffer[] = [],
): AsyncGenerator<Buffer> {
  for (const piece of pieces) {
    const { body } = await objects.get(piece.key);
    for await (const chunk of body) yield chunk as Buffer;
  }
  yield* after;
}

function pieceKey(key: string, index: number): string {
  return `${key}${PIECES_SUFFIX}/${String(index).padStart(5, '0')}-${randomUUID().slice(0, 8)}`;
}

/**
 * Pieces ready for a multipart assembly, where every part but the last must reach 5 MiB: the
 * small trailing pieces (less than 5 MiB together) are merged into one first. Those few bytes pass
 * through Berth; everything else is copied server-side. Returns the pieces to assemble and the
 * merged piece it stored (to delete with the rest), if any.
 */
export async function assemblyPieces(
  objects: Objects,
  key: string,
  pieces: readonly Piece[],
): Promise<{ pieces: Piece[]; merged?: Piece }> {
  const split = smallTailStart(pieces);
  const tail = pieces.slice(split);
  if (tail.length < 2) return { pieces: [...pieces] };
  const size = tail.reduce((sum, piece) => sum + piece.size, 0);
  const merged = { key: pieceKey(key, split), size };
  await objects.put(merged.key, Readable.from(piecesBody(objects, tail), { objectMode: false }), { length: size });
  return { pieces: [...pieces.slice(0, split), merged], merged };
}

export async function openWriter(objects: Objects, copier: ServerSideCopy, key: string): Promise<FileWriter> {
  const opened = await readState(objects, key);
  return new AppendWriter(objects, copier, key, opened);
}

class AppendWriter extends Writable implements FileWriter {
  /** Big pieces already stored before this session; they stay as they are. */
  private readonly kept: Piece[];
  /** Small trailing pieces; folded into the next big piece. */
  private tail: Piece[];
  /** Pieces this session stored (big ones, and small ones at the end). */
  private readonly added: Piece[] = [];
  /** Pieces this session replaced by folding; deleted once the new manifest is stored. */
  private readonly folded: Piece[] = [];
  /** Bytes that arrived and are not stored yet. */
  private held: Buffer[] = [];
  private heldBytes = 0;
  private readonly baseSize: number;
  private accepted = 0;
  private pending: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly objects: Objects,
    private readonly copier: ServerSideCopy,
    private readonly key: string,
    opened: Opened,
  ) {
    super({ highWaterMark: 1024 * 1024 });
    const split = smallTailStart(opened.manifest.pieces);
    this.kept = opened.manifest.pieces.slice(0, split);
    this.tail = opened.manifest.pieces.slice(split);
    this.baseSize = opened.manifest.size;
  }

  get size(): number {
    return this.baseSize + this.accepted;
  }

  private get tailBytes(): number {
    return this.tail.reduce((sum, piece) => sum + piece.size, 0);
  }

  /** Size the next big piece is filled to (tail included). */
  private get target(): number {
    return pieceSize(this.kept.length + this.added.length, this.objects.settings.chunkSize);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.pending = this.take(chunk).then(
      () => callback(),
      (error: Error) => callback(error),
    );
  }

  private async take(chunk: Buffer): Promise<void> {
    this.accepted += chunk.length;
    let rest = chunk;
    while (rest.length > 0) {
      const room = this.target - this.tailBytes - this.heldBytes;
      const part = rest.length > room ? rest.subarray(0, room) : rest;
      this.held.push(part);
      this.heldBytes += part.length;
      rest = rest.subarray(part.length);
      if (this.tailBytes + this.heldBytes >= this.target) await this.storeBig();
    }
  }

  /** Stores the small tail and the held bytes as one piece. */
  private async storePiece(): Promise<Piece> {
    const length = this.tailBytes + this.heldBytes;
    const piece = { key: pieceKey(this.key, this.kept.length + this.added.length), size: length };
    await this.objects.put(
      piece.key,
      Readable.from(piecesBody(this.objects, this.tail, this.held), { objectMode: false }),
      { length },
    );
    this.folded.push(...this.tail);
    this.tail = [];
    this.held = [];
    this.heldBytes = 0;
    return piece;
  }

  private async storeBig(): Promise<void> {
    this.added.push(await this.storePiece());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.finish().then(
      () => callback(),
      (error: Error) => {
        void this.discardAdded();
        callback(error);
      },
    );
  }

  private async finish(): Promise<void> {
    if (this.heldBytes > 0) {
      if (this.tailBytes + this.heldBytes >= S3_LIMITS.minPartSize) {
        await this.storeBig();
      } else if (this.tail.length + 1 > MAX_SMALL_PIECES) {
        // Too many small pieces: merge them with the new bytes into one (still small) piece.
        const merged = await this.storePiece();
        this.added.push(merged);
        this.tail = [merged];
      } else {
        const piece = {
          key: pieceKey(this.key, this.kept.length + this.added.length + this.tail.length),
          size: this.heldBytes,
        };
        await this.objects.put(piece.key, Buffer.concat(this.held, this.heldBytes));
        this.held = [];
        this.heldBytes = 0;
        this.added.push(piece);
        this.tail.push(piece);
      }
    }
    if (this.accepted === 0) return; // nothing written: the file stays exactly as it was
    const pieces = await this.ownPieces([
      ...this.kept,
      ...this.added.filter((piece) => !this.tail.includes(piece)),
      ...this.tail,
    ]);
    const manifest: PieceManifest = { version: 1, size: this.size, pieces };
    await this.objects.put(this.key, Buffer.from(JSON.stringify(manifest)), {
      metadata: manifestMetadata(manifest),
      contentType: 'application/json',
    });
    // Replaced pieces are garbage now; a failure here only leaves objects a later delete removes.
    const garbage = this.folded.filter((piece) => piece.key !== this.key).map((piece) => piece.key);
    await this.objects.deleteKeys(garbage).catch(() => undefined);
  }

  /**
   * A plain object that became the first piece lives at the file's own key, which the manifest is
   * about to replace: copy it (server-side) to a piece key first.
   */
  private async ownPieces(pieces: Piece[]): Promise<Piece[]> {
    return Promise.all(
      pieces.map(async (piece, index) => {
        if (piece.key !== this.key) return piece;
        const moved = { key: pieceKey(this.key, index), size: piece.size };
        await this.copier.copy(piece, moved.key);
        this.added.push(moved);
        return moved;
      }),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!error) {
      callback(null);
      return;
    }
    // The session failed: its pieces are not in any manifest, so they go.
    this.pending
      .catch(() => undefined)
      .then(() => this.discardAdded())
      .then(
        () => callback(error),
        () => callback(error),
      );
  }

  private async discardAdded(): Promise<void> {
    const keys = this.added.map((piece) => piece.key).filter((key) => key !== this.key);
    this.added.length = 0;
    await this.objects.deleteKeys(keys).catch(() => undefined);
  }
}
