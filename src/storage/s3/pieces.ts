/**
 * Appendable files on object storage. S3 objects cannot be appended to, so a file that is written
 * with `writer()` (an upload's `data`) is kept as *pieces*: objects under `<key>~pieces/`, listed
 * in order by a small JSON manifest stored at `<key>` itself and marked by object metadata. Every
 * request of a chunked upload may land on a different Berth instance; the manifest is the whole
 * state, so any instance (or a restarted one) continues where the last one stopped.
 *
 * Shape of the piece list, kept by every writer:
 *   [ big, big, …, big, small, small, … ]
 * every "big" piece is at least S3's 5 MiB part minimum; the trailing "small" pieces (chunks of
 * small PATCH requests) add up to less than 5 MiB. The moment they would reach it, they are folded
 * with the new bytes into one big piece. So the pieces can always be assembled, in order, into one
 * object with a multipart upload whose parts are server-side copies (UploadPartCopy).
 *
 * Big pieces are `chunksize` bytes for the first 2,000, then twice that for the next 2,000, and so
 * on: with the default 10 MiB, 100 GiB needs about 5,100 pieces (at most 40 MiB each) and the
 * 10,000 parts S3 allows reach 605 GiB. A writer holds one piece in memory while it fills.
 */
import { S3_LIMITS } from './client.js';

export const PIECES_METADATA = 'berth-layout';
export const PIECES_LAYOUT = 'pieces';
export const SIZE_METADATA = 'berth-size';

/** Pieces of one size before the size doubles. */
export const PIECES_PER_TIER = 2_000;
/** Small trailing pieces kept apart at most; beyond this they are merged into one. */
export const MAX_SMALL_PIECES = 64;

export interface Piece {
  /** Object key of the piece. */
  key: string;
  size: number;
}

export interface PieceManifest {
  version: 1;
  size: number;
  pieces: Piece[];
}

export function emptyManifest(): PieceManifest {
  return { version: 1, size: 0, pieces: [] };
}

export function parsePieceManifest(body: Buffer): PieceManifest {
  const parsed = JSON.parse(body.toString('utf8')) as Partial<PieceManifest>;
  if (parsed.version !== 1 || !Array.isArray(parsed.pieces)) throw new Error('unreadable piece manifest');
  const pieces = parsed.pieces.map((piece) => ({ key: String(piece.key), size: Number(piece.size) }));
  return { version: 1, size: pieces.reduce((sum, piece) => sum + piece.size, 0), pieces };
}

/** Whether object metadata marks the object as a piece manifest. */
export function isManifestMetadata(metadata: Record<string, string> | undefined): boolean {
  return metadata?.[PIECES_METADATA] === PIECES_LAYOUT;
}

export function manifestMetadata(manifest: PieceManifest): Record<string, string> {
  return { [PIECES_METADATA]: PIECES_LAYOUT, [SIZE_METADATA]: String(manifest.size) };
}

/** The size a big piece at position `index` is filled to before it is stored. */
export function pieceSize(index: number, chunkSize: number): number {
  const tier = Math.floor(index / PIECES_PER_TIER);
  return Math.min(chunkSize * 2 ** tier, S3_LIMITS.maxPartSize);
}

/** The largest file the schedule can hold in S3's 10,000 parts (for docs and tests). */
export function capacity(chunkSize: number): number {
  let total = 0;
  for (let index = 0; index < S3_LIMITS.maxParts; index++) total += pieceSize(index, chunkSize);
  return total;
}

/** Index of the first trailing small piece (pieces.length when there is none). */
export function smallTailStart(pieces: readonly Piece[]): number {
  let start = pieces.length;
  while (start > 0 && pieces[start - 1]!.size < S3_LIMITS.minPartSize) start--;
  return start;
}
