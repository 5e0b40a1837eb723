/**
 * What the policy tests share: storage accounting worked out by walking a storage folder with
 * plain file reads (independently of Berth's index), a config file for the offline commands,
 * and setting the times Berth reads pushes from.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { UsageReport } from '../../src/registry/policies/accounting.js';
import type { TestBerth } from '../helpers/berth.js';
import { V2 } from '../helpers/files.js';

export interface WalkedUsage {
  repositories: Map<string, { logical: number; unique: number; shared: number; tags: number; manifests: number }>;
  namespaces: Map<string, { logical: number; unique: number; shared: number; repositories: number; tags: number }>;
  total: { bytes: number; blobs: number };
}

function dirs(path: string): string[] {
  return existsSync(path)
    ? readdirSync(path, { withFileTypes: true })
        .filter((entry) => entry.isDirectory())
        .map((entry) => entry.name)
    : [];
}

function repositoriesUnder(root: string): string[] {
  const base = join(root, V2, 'repositories');
  const names: string[] = [];
  const visit = (name: string) => {
    const entries = dirs(join(base, name));
    if (entries.includes('_manifests') || entries.includes('_layers')) names.push(name);
    for (const entry of entries) if (!entry.startsWith('_')) visit(name ? `${name}/${entry}` : entry);
  };
  visit('');
  return names.sort();
}

function blobSize(root: string, digest: string): number {
  const [algorithm, hex] = digest.split(':') as [string, string];
  const path = join(root, V2, 'blobs', algorithm, hex.slice(0, 2), hex, 'data');
  return existsSync(path) ? statSync(path).size : 0;
}

/** What each repository's manifest revisions need, read from the files. */
function needed(root: string, name: string): Set<string> {
  const revisions = join(root, V2, 'repositories', name, '_manifests', 'revisions', 'sha256');
  const digests = new Set<string>();
  for (const hex of dirs(revisions)) {
    const digest = `sha256:${hex}`;
    digests.add(digest);
    const path = join(root, V2, 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
    if (!existsSync(path)) continue;
    const body = JSON.parse(readFileSync(path, 'utf8')) as {
      config?: { digest: string };
      layers?: Array<{ digest: string }>;
      manifests?: Array<{ digest: string }>;
    };
    for (const entry of [...(body.config ? [body.config] : []), ...(body.layers ?? []), ...(body.manifests ?? [])])
      digests.add(entry.digest);
  }
  return digests;
}

export function walkUsage(root: string): WalkedUsage {
  const names = repositoriesUnder(root);
  const sets = new Map(names.map((name) => [name, needed(root, name)]));
  const namespaceOf = (name: string) => name.split('/')[0]!;
  const holders = new Map<string, Set<string>>();
  const namespaceHolders = new Map<string, Set<string>>();
  for (const [name, set] of sets) {
    for (const digest of set) {
      holders.set(digest, (holders.get(digest) ?? new Set()).add(name));
      namespaceHolders.set(digest, (namespaceHolders.get(digest) ?? new Set()).add(namespaceOf(name)));
    }
  }
  const sum = (digests: Iterable<string>) => [...digests].reduce((total, digest) => total + blobSize(root, digest), 0);
  const usage: WalkedUsage = { repositories: new Map(), namespaces: new Map(), total: { bytes: 0, blobs: 0 } };
  for (const [name, set] of sets) {
    const logical = sum(set);
    const unique = sum([...set].filter((digest) => holders.get(digest)!.size === 1));
    const tags = dirs(join(root, V2, 'repositories', name, '_manifests', 'tags')).length;
    const manifests = dirs(join(root, V2, 'repositories', name, '_manifests', 'revisions', 'sha256')).length;
    usage.repositories.set(name, { logical, unique, shared: logical - unique, tags, manifests });
  }
  for (const namespace of new Set(names.map(namespaceOf))) {
    const members = names.filter((name) => namespaceOf(name) === namespace);
    const set = new Set(members.flatMap((name) => [...sets.get(name)!]));
    const logical = sum(set);
    const unique = sum([...set].filter((digest) => namespaceHolders.get(digest)!.size === 1));
    const tags = members.reduce((total, name) => total + usage.repositories.get(name)!.tags, 0);
    usage.namespaces.set(namespace, { logical, unique, shared: logical - unique, repositories: members.length, tags });
  }
  usage.total = { bytes: sum(holders.keys()), blobs: holders.size };
  return usage;
}

/** `GET /_berth/admin/usage` of a running server. */
export async function usage(server: TestBerth, query = ''): Promise<UsageReport> {
  const response = await fetch(`${server.url}/_berth/admin/usage${query}`);
  const text = await response.text();
  assert.equal(response.status, 200, text);
  return JSON.parse(text) as UsageReport;
}

/** A report's figures in the walk's shape (`walkUsage`), to compare with one assertion. */
export function figures(report: UsageReport): WalkedUsage {
  return {
    repositories: new Map(
      report.repositories.map(({ name, logical, unique, shared, tags, manifests }) => [
        name,
        { logical, unique, shared, tags, manifests },
      ]),
    ),
    namespaces: new Map(
      report.namespaces.map(({ name, logical, unique, shared, repositories, tags }) => [
        name,
        { logical, unique, shared, repositories, tags },
      ]),
    ),
    total: { bytes: report.total.bytes, blobs: report.total.blobs },
  };
}

/** Writes a config file serving `root`, with extra `berth:` keys as JSON (YAML's superset). */
export function writeConfig(dir: string, root: string, berth: Record<string, unknown> = {}): string {
  const path = join(dir, 'config.yml');
  writeFileSync(
    path,
    JSON.stringify({
      version: '0.1',
      log: { level: 'warn' },
      storage: { filesystem: { rootdirectory: root }, delete: { enabled: true } },
      berth,
    }),
  );
  return path;
}

/** Sets when a tag was pushed, as Berth reads it (its current link's modification time). */
export function setPushed(root: string, name: string, tag: string, when: Date): void {
  utimesSync(join(root, V2, 'repositories', name, '_manifests', 'tags', tag, 'current', 'link'), when, when);
}

/** Sets when a manifest revision was pushed (its revision link's modification time). */
export function setRevisionPushed(root: string, name: string, digest: string, when: Date): void {
  const hex = digest.split(':')[1]!;
  utimesSync(join(root, V2, 'repositories', name, '_manifests', 'revisions', 'sha256', hex, 'link'), when, when);
}
