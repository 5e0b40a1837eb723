/**
 * Starts Debian's `docker-registry` (CNCF Distribution 2.8, the real Go registry) on a free
 * loopback port over a temporary folder, with deletion enabled, and optionally with htpasswd
 * (Basic) or token (Bearer) authentication: the registry clients are tested against. (For
 * storage-compatibility tests over a given folder, see distribution.ts.) Tests that need it skip
 * loudly when it is absent, and fail instead under CI=true.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import bcrypt from 'bcryptjs';
import { tempDir } from './berth.js';
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
  /** Users for htpasswd (Basic) authentication. */
  users?: Record<string, string>;
  token?: TokenAuthSettings;
  /** Serve HTTPS with this certificate and key (PEM files). */
  tls?: { certificate: string; key: string };
}

export interface TestDockerRegistry {
  url: string;
  host: string;
  root: string;
  close(): Promise<void>;
}

export function htpasswdEntry(user: string, password: string): string {
  return `${user}:${bcrypt.hashSync(password, 4)}`;
}

export async function startDockerRegistry(options: DockerRegistryOptions = {}): Promise<TestDockerRegistry> {
  const folder = tempDir('docker-registry-');
  const root = join(folder, 'data');
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${root}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: ${host}`,
    '  secret: berth-test-secret',
  ];
  if (options.tls) lines.push('  tls:', `    certificate: ${options.tls.certificate}`, `    key: ${options.tls.key}`);
  if (options.users) {
    const path = join(folder, 'htpasswd');
    writeFileSync(path, `${Object.entries(options.users).map(([user, password]) => htpasswdEntry(user, password)).join('\n')}\n`);
    lines.push('auth:', '  htpasswd:', '    realm: berth-test', `    path: ${path}`);
  } else if (options.token) {
    const { realm, service, issuer, rootcertbundle } = options.token;
    lines.push('auth:', '  token:', `    realm: ${realm}`, `    service: ${service}`, `    issuer: ${issuer}`, `    rootcertbundle: ${rootcertbundle}`);
  }
  const configPath = join(folder, 'config.yml');
  writeFileSync(configPath, `${lines.join('\n')}\n`);
  const child: ChildProcess = spawn(DOCKER_REGISTRY_BIN, ['serve', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  let exited = false;
  child.on('exit', () => (exited = true));
  const url = `${options.tls ? 'https' : 'http'}://${host}`;
  // Ready when the port accepts connections (any HTTP answer, 401 included); bounded.
  for (let attempt = 0; ; attempt++) {
    if (exited) throw new Error(`docker-registry exited at start: ${stderr}`);
    try {
      await new Promise<void>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.end();
          resolve();
        });
        socket.on('error', reject);
      });
      break;
    } catch {
      if (attempt > 200) {
        child.kill('SIGKILL');
        throw new Error(`docker-registry did not start on ${host}: ${stderr}`);
      }
      await sleep(50);
    }
  }
  return {
    url,
    host,
    root,
    async close() {
      if (!exited) {
        const done = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await done;
        clearTimeout(timer);
      }
      rmSync(folder, { recursive: true, force: true });
    },
  };
}
