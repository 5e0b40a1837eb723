/**
 * The registries client tests run against, each started fresh: a real Berth, and Debian's
 * `docker-registry` (CNCF Distribution 2.8) without authentication, with htpasswd (Basic) and with
 * token (Bearer) authentication from a real token issuer. Each target hands out the credentials a
 * client needs.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Credentials } from '../../src/client/auth.js';
import { startBerth, tempDir } from './berth.js';
import { dockerRegistryMissing, htpasswdEntry, startDockerRegistry } from './docker-registry.js';
import { startTokenIssuer, type TokenIssuer } from './token-issuer.js';

export interface RunningTarget {
  host: string;
  url: string;
  /** Credentials to use, when the target needs them. */
  credentials?: Credentials;
  /** The token issuer, for targets with Bearer auth. */
  issuer?: TokenIssuer;
  /** Whether DELETE of a tag (rather than a digest) is supported. */
  deletesTags: boolean;
  close(): Promise<void>;
}

export interface Target {
  name: string;
  /** Whether clients must log in. */
  auth: boolean;
  /** Why the target cannot run here, or undefined. */
  missing(): string | undefined;
  start(): Promise<RunningTarget>;
}

export const USER = { username: 'alice', password: 'wonderland-42' };

export const berthTarget: Target = {
  name: 'berth',
  auth: false,
  missing: () => undefined,
  async start() {
    const server = await startBerth();
    return { host: server.host, url: server.url, deletesTags: true, close: () => server.close() };
  },
};

/** Berth with its own token server (`berth.auth.htpasswd`): Bearer tokens for every request. */
export const berthTokenTarget: Target = {
  name: 'berth with token auth (Bearer)',
  auth: true,
  missing: () => undefined,
  async start() {
    const folder = tempDir('berth-auth-');
    const htpasswd = join(folder, 'htpasswd');
    writeFileSync(htpasswd, `${htpasswdEntry(USER.username, USER.password)}\n`);
    const server = await startBerth({ config: { berth: { auth: { htpasswd } } } });
    return {
      host: server.host,
      url: server.url,
      credentials: { ...USER },
      deletesTags: true,
      async close() {
        await server.close();
        rmSync(folder, { recursive: true, force: true });
      },
    };
  },
};

export const dockerRegistryTarget: Target = {
  name: 'docker-registry',
  auth: false,
  missing: dockerRegistryMissing,
  async start() {
    const server = await startDockerRegistry();
    return { host: server.host, url: server.url, deletesTags: false, close: () => server.close() };
  },
};

export const dockerRegistryBasicTarget: Target = {
  name: 'docker-registry with htpasswd (Basic)',
  auth: true,
  missing: dockerRegistryMissing,
  async start() {
    const server = await startDockerRegistry({ users: { [USER.username]: USER.password } });
    return {
      host: server.host,
      url: server.url,
      credentials: { ...USER },
      deletesTags: false,
      close: () => server.close(),
    };
  },
};

export const dockerRegistryTokenTarget: Target = {
  name: 'docker-registry with token auth (Bearer)',
  auth: true,
  missing: dockerRegistryMissing,
  async start() {
    const issuer = await startTokenIssuer({ users: { [USER.username]: USER.password } });
    const server = await startDockerRegistry({
      token: { realm: issuer.realm, service: issuer.service, issuer: issuer.issuer, rootcertbundle: issuer.certPath },
    });
    return {
      host: server.host,
      url: server.url,
      credentials: { ...USER },
      issuer,
      deletesTags: false,
      async close() {
        await server.close();
        await issuer.close();
      },
    };
  },
};

export const ALL_TARGETS: Target[] = [
  berthTarget,
  berthTokenTarget,
  dockerRegistryTarget,
  dockerRegistryBasicTarget,
  dockerRegistryTokenTarget,
];
