/**
 * `Range` (RFC 9110 §14) for blob downloads, and the `Content-Range` of chunked uploads
 * (OCI Distribution Spec: `^[0-9]+-[0-9]+$`, inclusive).
 */
import type { ByteRange } from '../storage/driver.js';

export type RangeRequest =
  | { kind: 'none' }
  | { kind: 'satisfiable'; range: Required<ByteRange> }
  | { kind: 'unsatisfiable' };

/**
 * Interprets a Range header against a resource of `size` bytes. Only single `bytes=` ranges are
 * served as 206. An inverted range (`bytes=500-0`) or one starting past the end is unsatisfiable
 * (416), as Go's http.ServeContent answers for Distribution; a header that is not a byte range at
 * all is ignored (a 200 with the whole blob), as RFC 9110 permits.
 */
export function parseRange(header: string | undefined, size: number): RangeRequest {
  if (!header) return { kind: 'none' };
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return { kind: 'none' };
  const [, first, last] = match as unknown as [string, string, string];
  if (first === '' && last === '') return { kind: 'none' };
  if (first === '') {
    // Suffix range: the last N bytes.
    const length = Number(last);
    if (length === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'satisfiable', range: { start: Math.max(size - length, 0), end: size - 1 } };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== '' && Number(last) < start) return { kind: 'unsatisfiable' };
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'satisfiable', range: { start, end } };
}

export type ContentRange = { start: number; end: number } | 'invalid' | undefined;

export function parseContentRange(header: string | undefined): ContentRange {
  if (header === undefined) return undefined;
  const match = /^(\d+)-(\d+)$/.exec(header.trim());
  if (!match) return 'invalid';
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return 'invalid';
  return { start, end };
}
