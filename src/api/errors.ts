/**
 * The registry's one error type and the one place that writes the spec's JSON error envelope.
 * Handlers throw `RegistryError`; the server's error handler turns it (or anything unexpected)
 * into `{"errors":[{"code","message","detail"}]}` with the status from the code table.
 */
import { ERROR_CODES, type ErrorBody, type ErrorCode } from './errcodes.js';

export class RegistryError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message?: string,
    readonly detail?: unknown,
    options: { status?: number; headers?: Record<string, string> } = {},
  ) {
    super(message ?? ERROR_CODES[code].message);
    this.name = 'RegistryError';
    this.status = options.status ?? ERROR_CODES[code].status;
    this.headers = options.headers ?? {};
  }

  readonly headers: Record<string, string>;

  toBody(): ErrorBody {
    const entry: ErrorBody['errors'][number] = { code: this.code, message: this.message };
    if (this.detail !== undefined) entry.detail = this.detail;
    return { errors: [entry] };
  }
}

/** Shorthands for the errors handlers raise most. */
export const errors = {
  nameInvalid: (name: string, why = 'repository name must match the grammar of the OCI Distribution Spec') =>
    new RegistryError('NAME_INVALID', `invalid repository name: ${why}`, { name }),
  nameUnknown: (name: string) => new RegistryError('NAME_UNKNOWN', undefined, { name }),
  blobUnknown: (digest: string) => new RegistryError('BLOB_UNKNOWN', undefined, { digest }),
  manifestUnknown: (reference: string) => new RegistryError('MANIFEST_UNKNOWN', undefined, { reference }),
  digestInvalid: (detail: unknown, message?: string) => new RegistryError('DIGEST_INVALID', message, detail),
  uploadUnknown: (uuid: string) => new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { uuid }),
  unsupported: (message: string) => new RegistryError('UNSUPPORTED', message),
};
