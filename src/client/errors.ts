/**
 * The client's one error type. `kind` says what sort of failure it is, so callers (and the CLI's
 * exit codes) can tell "not there" from "not allowed" from "broken"; `hint` says what to do.
 */

export type ClientErrorKind =
  /** The repository, manifest, tag or blob does not exist. */
  | 'not-found'
  /** Credentials are missing or refused (401), or access is denied (403). */
  | 'auth'
  /** The input is wrong: a malformed reference, an unknown option value. */
  | 'usage'
  /** Content did not match its digest or declared size. */
  | 'digest-mismatch'
  /** The registry does not allow the operation (405, or deletion disabled). */
  | 'unsupported'
  /** The registry could not be reached, or kept failing. */
  | 'network'
  | 'failure';

export interface RegistryErrorEntry {
  code: string;
  message?: string;
  detail?: unknown;
}

export class ClientError extends Error {
  constructor(
    readonly kind: ClientErrorKind,
    message: string,
    readonly details: {
      status?: number;
      errors?: RegistryErrorEntry[];
      hint?: string;
      cause?: unknown;
      /** Seconds the registry asked to wait (`Retry-After` of a 429 or 503). */
      retryAfter?: number;
    } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'ClientError';
  }

  get status(): number | undefined {
    return this.details.status;
  }

  /** The registry's error codes (`MANIFEST_UNKNOWN`, …), when it sent the spec's error body. */
  get codes(): string[] {
    return (this.details.errors ?? []).map((entry) => entry.code);
  }

  get hint(): string | undefined {
    return this.details.hint;
  }
}

/** Notes the `Retry-After` seconds of a response on the error made from it. */
export function withRetryAfter(error: ClientError, header: string | undefined): ClientError {
  const seconds = header === undefined ? Number.NaN : Number(header);
  const date = header === undefined ? Number.NaN : Date.parse(header);
  if (Number.isFinite(seconds) && seconds >= 0) error.details.retryAfter = seconds;
  else if (Number.isFinite(date)) error.details.retryAfter = Math.max(0, Math.ceil((date - Date.now()) / 1000));
  return error;
}

/** Reads the spec's `{"errors":[…]}` body, tolerating anything else a server or proxy sends. */
export function parseErrorBody(text: string): RegistryErrorEntry[] {
  try {
    const body = JSON.parse(text) as { errors?: unknown };
    if (!Array.isArray(body.errors)) return [];
    return body.errors
      .filter(
        (entry): entry is RegistryErrorEntry =>
          typeof entry === 'object' && entry !== null && typeof entry.code === 'string',
      )
      .map((entry) => ({ code: entry.code, message: entry.message, detail: entry.detail }));
  } catch {
    return [];
  }
}

const NOT_FOUND_CODES = new Set(['NAME_UNKNOWN', 'MANIFEST_UNKNOWN', 'BLOB_UNKNOWN', 'BLOB_UPLOAD_UNKNOWN']);

/** Turns an unexpected response into a ClientError that names the request and what the server said. */
export function errorFromResponse(what: string, status: number, bodyText: string, hint?: string): ClientError {
  const entries = parseErrorBody(bodyText);
  const said =
    entries.length > 0
      ? entries.map((entry) => `${entry.code}${entry.message ? `: ${entry.message}` : ''}`).join('; ')
      : bodyText.trim().slice(0, 200);
  const message = `${what}: HTTP ${status}${said ? ` (${said})` : ''}`;
  let kind: ClientErrorKind = 'failure';
  if (status === 404 || entries.some((entry) => NOT_FOUND_CODES.has(entry.code))) kind = 'not-found';
  else if (status === 401 || status === 403) kind = 'auth';
  else if (status === 405 || entries.some((entry) => entry.code === 'UNSUPPORTED')) kind = 'unsupported';
  else if (entries.some((entry) => entry.code === 'DIGEST_INVALID' || entry.code === 'SIZE_INVALID'))
    kind = 'digest-mismatch';
  return new ClientError(kind, message, { status, errors: entries, hint: hint ?? defaultHint(kind) });
}

/** Refusals (401, 403) get their hint from the client, which knows who it signed in as (refusal.ts). */
function defaultHint(kind: ClientErrorKind): string | undefined {
  switch (kind) {
    case 'unsupported':
      return 'the registry refuses this operation; for deletes, the registry must allow them (storage.delete.enabled: true)';
    default:
      return undefined;
  }
}
