/**
 * What the registry client lends the modules that build on it: a request that answers
 * authentication challenges by itself, and the same with the status checked.
 */
import type { RequestBody, TransportResponse } from './transport.js';

export interface CallOptions {
  method: string;
  url: URL;
  scopes: string[];
  headers?: Record<string, string>;
  body?: RequestBody;
  idempotent?: boolean;
}

export interface RegistryCalls {
  /** Sends a request, answering authentication challenges; returns whatever status came back. */
  call(options: CallOptions): Promise<TransportResponse>;
  /** Calls and fails with a ClientError unless the status is one of `expected`. */
  expect(what: string, options: CallOptions, expected: number[]): Promise<TransportResponse>;
  /** A path on the registry's base URL. */
  url(path: string): URL;
}
