/**
 * What the S3 driver adds to the shared key layout (bucket/keys.ts): where the pieces of an
 * appendable file live, and S3's ways of saying "no such object".
 */
import { orPathNotFound } from '../driver.js';
import { PRIVATE_MARK } from '../bucket/keys.js';

/** Pieces of an appendable file `<key>` live under `<key>~pieces/`. */
export const PIECES_SUFFIX = `${PRIVATE_MARK}pieces`;

interface SdkError {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

function statusOf(error: unknown): number | undefined {
  return (error as SdkError | undefined)?.$metadata?.httpStatusCode;
}

/** S3's "no such object" in its several spellings (GET: NoSuchKey, HEAD: NotFound, bare 404). */
export function isMissing(error: unknown): boolean {
  const name = (error as SdkError | undefined)?.name;
  return name === 'NoSuchKey' || name === 'NotFound' || (statusOf(error) === 404 && name !== 'NoSuchBucket');
}

/** S3's answer to a Range that starts at or past the end of the object. */
export function isInvalidRange(error: unknown): boolean {
  return (error as SdkError | undefined)?.name === 'InvalidRange' || statusOf(error) === 416;
}

/** Runs an S3 call, turning "no such object" into the driver's PathNotFoundError. */
export function orNotFound<T>(path: string, call: () => Promise<T>): Promise<T> {
  return orPathNotFound(path, isMissing, call);
}
