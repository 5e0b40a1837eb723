/**
 * Streamed reads with byte ranges. A plain object is one ranged GET: the stream is S3's response
 * body, so a download holds no more than the socket's buffers. A file kept as pieces (an upload
 * in progress, pieces.ts) is read piece after piece, each a ranged GET of its own.
 */
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InvalidOffsetError, isValidRange, PathNotFoundError, type ByteRange } from '../driver.js';
import { isInvalidRange, isMissing } from './keys.js';
import type { ObjectHead, Objects } from './objects.js';
import { isManifestMetadata, parsePieceManifest, type Piece } from './pieces.js';

function rangeHeader(range: ByteRange | undefined): string | undefined {
  if (!range || (range.start === 0 && range.end === undefined)) return undefined;
  return `bytes=${range.start}-${range.end ?? ''}`;
}

function emptyStream(): Readable {
  return Readable.from([]);
}

/** The pieces' bytes from `start` to `end` (inclusive), one ranged GET after another. */
function piecesStream(objects: Objects, pieces: readonly Piece[], start: number, end: number): Readable {
  const output = new PassThrough({ highWaterMark: 1024 * 1024 });
  (async () => {
    let offset = 0;
    for (const piece of pieces) {
      const first = Math.max(start, offset);
      const last = Math.min(end, offset + piece.size - 1);
      offset += piece.size;
      if (first > last) continue;
      const from = first - (offset - piece.size);
      const to = last - (offset - piece.size);
      const { body } = await objects.get(piece.key, `bytes=${from}-${to}`);
      await pipeline(body, output, { end: false });
    }
    output.end();
  })().catch((error: unknown) => output.destroy(error as Error));
  return output;
}

export async function openReader(objects: Objects, path: string, key: string, range?: ByteRange): Promise<Readable> {
  if (range && !isValidRange(range)) throw new InvalidOffsetError(path, range.start);
  let opened: { body: Readable; head: ObjectHead };
  try {
    opened = await objects.get(key, rangeHeader(range));
  } catch (error) {
    if (isMissing(error)) throw new PathNotFoundError(path);
    if (!isInvalidRange(error)) throw error;
    // At or past the end: reading from exactly the end yields nothing, further is an error.
    const head = await objects.head(key).catch((failure: unknown) => {
      throw isMissing(failure) ? new PathNotFoundError(path) : failure;
    });
    if (isManifestMetadata(head.metadata)) return openPieces(objects, path, key, range);
    if (range && range.start === head.size) return emptyStream();
    throw new InvalidOffsetError(path, range?.start ?? 0);
  }
  if (!isManifestMetadata(opened.head.metadata)) return opened.body;
  opened.body.destroy(); // that was (part of) the manifest, not the file
  return openPieces(objects, path, key, range);
}

async function openPieces(objects: Objects, path: string, key: string, range?: ByteRange): Promise<Readable> {
  const { body } = await objects.getBuffer(key).catch((error: unknown) => {
    throw isMissing(error) ? new PathNotFoundError(path) : error;
  });
  const manifest = parsePieceManifest(body);
  const start = range?.start ?? 0;
  if (start > manifest.size) throw new InvalidOffsetError(path, start);
  const end = Math.min(range?.end ?? manifest.size - 1, manifest.size - 1);
  if (start > end) return emptyStream();
  return piecesStream(objects, manifest.pieces, start, end);
}
