/**
 * Runs Debian's `docker-registry` (CNCF Distribution 2.8, the real Go registry) on a free loopback
 * port, deletion enabled: over a given storage folder (layout-compatibility and GC tests, which
 * check Berth against it on the same bytes) or over a fresh temporary one, optionally with
 * htpasswd (Basic) or token (Bearer) authentication and TLS (client tests). Tests that need it skip
 * loudly when it is absent, and fail instead under CI=true.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import bcrypt from 'bcryptjs';
import { stringify } from 'yaml';
import { mergeConfig, tempDir } from './berth.js';
import { freePort } from './tools.js';

export const DOCKER_REGISTRY_BIN = '/usr/bin/docker-registry';

/** Why a test needing docker-registry cannot run (undefined when it can); throws under CI. */
export function dockerRegistryMissing(): string | undefined {
  if (existsSync(DOCKER_REGISTRY_BIN)) return undefined;
  const message = `${DOCKER_REGISTRY_BIN} is not installed (apt-get install docker-registry): skipping tests against the Go registry`;
  if (process.env.CI === 'true') throw new Error(message);
  console.warn(`\n!!! ${message}\n`);
  return message;
}

export interface TokenAuthSettings {
  realm: string;
  service: string;
  issuer: string;
  /** PEM file of the certificate(s) whose keys sign tokens. */
  rootcertbundle: string;
}

export interface DockerRegistryOptions {
  /** Storage folder to serve; a fresh temporary one (removed on close) by default. */
  root?: string;
  /** Users for htpasswd (Basic) authentication. */
  users?: Record<string, string>;
  token?: TokenAuthSettings;
  /** Serve HTTPS with this certificate and key (PEM files). */
  tls?: { certificate: string; key: string };
  /** More configuration, merged in as a config file's sections would be (`http.headers`, …). */
  config?: Record<string, unknown>;
  /** Keep its access log (one line per request, Apache combined format), read with `accessLog()`. */
  accessLog?: boolean;
}

export interface TestDockerRegistry {
  url: string;
  host: string;
  root: string;
  /** What the process wrote to stderr so far (its log, the last 20 kB), for failure messages. */
  log(): string;
  /** Request lines of the access log so far ("GET /v2/…"), with `accessLog: true`. */
  accessLog(): string[];
  /** The protocol of each of those requests ("HTTP/1.1", "HTTP/2.0"), in the same order. */
  accessProtocols(): string[];
  /** Stops the process; removes the storage folder too when this helper made it. */
  close(): Promise<void>;
}

export function htpasswdEntry(user: string, password: string): string {
  return `${user}:${bcrypt.hashSync(password, 4)}`;
}

/** Distribution's configuration for these options, written into `folder`; returns its path. */
function writeConfig(folder: string, root: string, host: string, options: DockerRegistryOptions): string {
  const config: Record<string, unknown> = {
    version: 0.1,
    log: { level: 'warn', accesslog: { disabled: options.accessLog !== true } },
    storage: { filesystem: { rootdirectory: root }, delete: { enabled: true } },
    http: { addr: host, secret: 'berth-test-secret', ...(options.tls ? { tls: options.tls } : {}) },
  };
  if (options.users) {
    const path = join(folder, 'htpasswd');
    writeFileSync(
      path,
      `${Object.entries(options.users)
        .map(([user, password]) => htpasswdEntry(user, password))
        .join('\n')}\n`,
    );
    config.auth = { htpasswd: { realm: 'berth-test', path } };
  } else if (options.token) {
    config.auth = { token: { ...options.token } };
  }
  const path = join(folder, 'config.yml');
  writeFileSync(path, stringify(mergeConfig(config, options.config ?? {})));
  return path;
}

/** Resolves once the port accepts connections (any HTTP answer, 401 included); bounded. */
async function waitUntilListening(port: number, child: ChildProcess, log: () => string): Promise<void> {
  for (let attempt = 0; attempt <= 200; attempt++) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`docker-registry exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${log()}`);
    }
    try {
      await new Promise<void>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.end();
          resolve();
        });
        socket.on('error', reject);
      });
      return;
    } catch {
      await sleep(50);
    }
  }
  throw new Error(`docker-registry did not start on port ${port}:\n${log()}`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

async function startOnce(root: string, ownsRoot: boolean, options: DockerRegistryOptions): Promise<TestDockerRegistry> {
  const folder = tempDir('docker-registry-config-');
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const child = spawn(DOCKER_REGISTRY_BIN, ['serve', writeConfig(folder, root, host, options)], {
    stdio: ['ignore', options.accessLog ? 'pipe' : 'ignore', 'pipe'],
  });
  const requests: string[] = [];
  const protocols: string[] = [];
  let partial = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      const request = /"([A-Z]+ \S+) (HTTP\/[\d.]+)"/.exec(line);
      if (request) {
        requests.push(request[1]!);
        protocols.push(request[2]!);
      }
    }
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-20_000)));
  const log = () => stderr;
  try {
    await waitUntilListening(port, child, log);
  } catch (error) {
    // The caller may retry on the same root, so only this attempt's process and config go.
    await stop(child);
    rmSync(folder, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `${options.tls ? 'https' : 'http'}://${host}`,
    host,
    root,
    log,
    accessLog: () => [...requests],
    accessProtocols: () => [...protocols],
    async close() {
      await stop(child);
      rmSync(folder, { recursive: true, force: true });
      if (ownsRoot) rmSync(root, { recursive: true, force: true });
    },
  };
}

export async function startDockerRegistry(options: DockerRegistryOptions = {}): Promise<TestDockerRegistry> {
  const ownsRoot = options.root === undefined;
  const root = options.root ?? tempDir('docker-registry-');
  // The port is chosen before the process binds it; retry if another process took it meanwhile.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(root, ownsRoot, options);
    } catch (error) {
      if (attempt < 3 && String(error).includes('address already in use')) continue;
      if (ownsRoot) rmSync(root, { recursive: true, force: true });
      throw error;
    }
  }
}
