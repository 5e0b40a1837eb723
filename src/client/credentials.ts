/**
 * Credentials in Docker's client configuration (`$DOCKER_CONFIG/config.json`, by default
 * `~/.docker/config.json`): the `auths` map of registry to `{"auth": base64("user:password")}`,
 * which `docker login`, `podman login --authfile` and `skopeo login --authfile` read and write too.
 * Other keys of the file are kept as they are when it is rewritten.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Credentials } from './auth.js';
import { ClientError } from './errors.js';
import { DOCKER_HUB, DOCKER_HUB_AUTH_KEY } from './reference.js';

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
  [key: string]: unknown;
}

interface DockerConfig {
  auths?: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [key: string]: unknown;
}

/** The config file: an explicit path, else `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
export function dockerConfigPath(explicit?: string): string {
  if (explicit) return explicit;
  const folder = process.env.DOCKER_CONFIG || join(homedir(), '.docker');
  return join(folder, 'config.json');
}

/** The key a registry's entry has in `auths`: Docker Hub keeps its historical URL. */
export function authKey(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_AUTH_KEY : registry;
}

/** Keys under which other tools may have stored a registry's entry (`https://host`, `host/v2/`, …). */
function candidateKeys(registry: string): string[] {
  if (registry === DOCKER_HUB)
    return [DOCKER_HUB_AUTH_KEY, 'docker.io', 'index.docker.io', 'registry-1.docker.io', 'https://index.docker.io/v1'];
  return [
    registry,
    `https://${registry}`,
    `http://${registry}`,
    `https://${registry}/`,
    `http://${registry}/`,
    `https://${registry}/v1/`,
    `https://${registry}/v2/`,
  ];
}

export class CredentialStore {
  readonly path: string;

  constructor(path?: string) {
    this.path = dockerConfigPath(path);
  }

  private read(): DockerConfig {
    if (!existsSync(this.path)) return {};
    const text = readFileSync(this.path, 'utf8');
    if (!text.trim()) return {};
    try {
      const parsed = JSON.parse(text) as unknown;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
      return parsed as DockerConfig;
    } catch (error) {
      throw new ClientError('usage', `cannot read ${this.path}: ${(error as Error).message}`, {
        hint: 'fix the JSON in that file, or point DOCKER_CONFIG (or --authfile) elsewhere',
      });
    }
  }

  private write(config: DockerConfig): void {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const temporary = `${this.path}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(config, null, '\t')}\n`, { mode: 0o600 });
    chmodSync(temporary, 0o600);
    renameSync(temporary, this.path);
  }

  /** The stored credentials of a registry, or undefined. */
  get(registry: string): Credentials | undefined {
    const auths = this.read().auths ?? {};
    for (const key of candidateKeys(registry)) {
      const entry = auths[key];
      if (entry) {
        const credentials = decodeEntry(entry, this.path, key);
        if (credentials) return credentials;
      }
    }
    return undefined;
  }

  set(registry: string, username: string, password: string): void {
    const config = this.read();
    const auths = { ...config.auths };
    auths[authKey(registry)] = { auth: Buffer.from(`${username}:${password}`).toString('base64') };
    this.write({ ...config, auths });
  }

  /** Removes every entry of the registry; returns whether there was one. */
  remove(registry: string): boolean {
    const config = this.read();
    const auths = { ...config.auths };
    let removed = false;
    for (const key of candidateKeys(registry)) {
      if (key in auths) {
        delete auths[key];
        removed = true;
      }
    }
    if (removed) this.write({ ...config, auths });
    return removed;
  }
}

function decodeEntry(entry: AuthEntry, path: string, key: string): Credentials | undefined {
  const credentials: Credentials = {};
  if (typeof entry.auth === 'string' && entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon === -1) {
      throw new ClientError('usage', `the "auth" entry for ${key} in ${path} is not base64 of "user:password"`, {
        hint: `log in again: berth login ${key}`,
      });
    }
    credentials.username = decoded.slice(0, colon);
    credentials.password = decoded.slice(colon + 1);
  } else if (typeof entry.username === 'string') {
    credentials.username = entry.username;
    credentials.password = typeof entry.password === 'string' ? entry.password : '';
  }
  if (typeof entry.identitytoken === 'string' && entry.identitytoken) credentials.identityToken = entry.identitytoken;
  if (typeof entry.registrytoken === 'string' && entry.registrytoken) credentials.registryToken = entry.registrytoken;
  return Object.keys(credentials).length > 0 ? credentials : undefined;
}
