/**
 * Streamed reads with byte ranges: one ranged download, whose response body is the stream, so a
 * download holds no more than the socket's buffers.
 */
import { Readable } from 'node:stream';
import { InvalidOffsetError, isValidRange, PathNotFoundError, type ByteRange } from '../driver.js';
import { isInvalidRange, isMissing, orNotFound, type Blobs } from './blobs.js';

export async function openReader(blobs: Blobs, path: string, name: string, range?: ByteRange): Promise<Readable> {
  if (range && !isValidRange(range)) throw new InvalidOffsetError(path, range.start);
  const start = range?.start ?? 0;
  const count = range?.end === undefined ? undefined : range.end - start + 1;
  try {
    return (await blobs.get(name, start, count)).body;
  } catch (error) {
    if (isMissing(error)) throw new PathNotFoundError(path);
    if (!isInvalidRange(error)) throw error;
    // At or past the end: reading from exactly the end yields nothing, further is an error.
    const head = await orNotFound(path, () => blobs.head(name));
    if (start === head.size) return Readable.from([]);
    throw new InvalidOffsetError(path, start);
  }
}
