/**
 * What the registry commands share: the connection options (`--plain-http`, `--insecure`,
 * `--authfile`), `--json`, the exit codes scripts can rely on, and one way of reporting errors
 * (what went wrong, then what to do).
 */
import type { Command } from 'commander';
import { CredentialStore } from '../client/credentials.js';
import { ClientError, type ClientErrorKind } from '../client/errors.js';
import { RegistryClient } from '../client/registry-client.js';

/**
 * Exit codes of the registry commands:
 * 0 success, 1 failure (network, server error, digest mismatch, refused operation),
 * 2 usage (bad arguments or references), 3 not found, 4 authentication or permission.
 */
export const EXIT_CODES = { ok: 0, failure: 1, usage: 2, notFound: 3, auth: 4 } as const;

/**
 * Where the commands write: standard output and error, unless a caller (a test running commands
 * in-process) swaps them for its own sinks.
 */
export const io = {
  out: (text: string | Uint8Array): void => {
    process.stdout.write(text);
  },
  err: (text: string | Uint8Array): void => {
    process.stderr.write(text);
  },
};

export interface ConnectionOptions {
  json?: boolean;
  /** true: HTTP; false: HTTPS; undefined: HTTP for loopback hosts only. */
  plainHttp?: boolean;
  insecure?: boolean;
  authfile?: string;
}

/** Adds the connection and output options every registry command takes. */
export function withConnectionOptions(command: Command): Command {
  return command
    .option('--json', 'print machine-readable JSON instead of text')
    .option('--plain-http', 'speak plain HTTP (default for localhost and 127.0.0.0/8 only)')
    .option('--no-plain-http', 'speak HTTPS even to localhost')
    .option('--insecure', 'accept any TLS certificate (self-signed registries)')
    .option('--authfile <path>', 'credentials file (default: $DOCKER_CONFIG/config.json or ~/.docker/config.json)');
}

export function credentialStore(options: ConnectionOptions): CredentialStore {
  return new CredentialStore(options.authfile);
}

export function openRegistry(host: string, options: ConnectionOptions): RegistryClient {
  return new RegistryClient(host, {
    ...(options.plainHttp === undefined ? {} : { plainHttp: options.plainHttp }),
    insecure: options.insecure === true,
    credentials: credentialStore(options),
    userAgent: 'berth-cli',
  });
}

export function exitCodeOf(kind: ClientErrorKind | undefined): number {
  switch (kind) {
    case 'usage':
      return EXIT_CODES.usage;
    case 'not-found':
      return EXIT_CODES.notFound;
    case 'auth':
      return EXIT_CODES.auth;
    default:
      return EXIT_CODES.failure;
  }
}

export function reportError(error: unknown, json: boolean | undefined): number {
  const clientError = error instanceof ClientError ? error : undefined;
  const message = error instanceof Error ? error.message : String(error);
  const code = exitCodeOf(clientError?.kind);
  if (json) {
    const body: Record<string, unknown> = { kind: clientError?.kind ?? 'failure', message };
    if (clientError?.hint) body.hint = clientError.hint;
    if (clientError?.status !== undefined) body.status = clientError.status;
    if (clientError && clientError.codes.length > 0) body.codes = clientError.codes;
    io.err(`${JSON.stringify({ error: body })}\n`);
  } else {
    io.err(`berth: ${message}\n`);
    if (clientError?.hint) io.err(`hint: ${clientError.hint}\n`);
  }
  return code;
}

/**
 * Runs a command body: errors are reported on stderr (as JSON with `--json`) and become the exit
 * code; registries opened through `open` are closed at the end.
 */
export async function runCommand(
  options: ConnectionOptions,
  // biome-ignore lint/suspicious/noConfusingVoidType: bodies that return nothing (Promise<void>) must be accepted; undefined would refuse them
  body: (open: (host: string) => RegistryClient) => Promise<number | void>,
): Promise<void> {
  const opened: RegistryClient[] = [];
  const open = (host: string) => {
    const registry = openRegistry(host, options);
    opened.push(registry);
    return registry;
  };
  try {
    const code = await body(open);
    process.exitCode = code ?? EXIT_CODES.ok;
  } catch (error) {
    process.exitCode = reportError(error, options.json);
  } finally {
    for (const registry of opened) registry.close();
  }
}

export function printJson(value: unknown): void {
  io.out(`${JSON.stringify(value, null, 2)}\n`);
}

export function printLines(lines: string[]): void {
  if (lines.length > 0) io.out(`${lines.join('\n')}\n`);
}

export function formatBytes(size: number | undefined): string {
  if (size === undefined || !Number.isFinite(size)) return '?';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = size;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** A positive integer option value, or a usage error naming the option. */
export function positiveInteger(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new ClientError('usage', `${name} must be a whole number, not "${text}"`);
  return Number(text);
}
