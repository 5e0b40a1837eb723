/**
 * Berth on Azure Blob Storage (Azurite, the emulator the tests use) against Berth on the
 * filesystem, on the same machine: a 64 MiB layer pushed in one PUT and in 8 MiB PATCH chunks,
 * then pulled through Berth and (Azure only) from the SAS URL Berth redirects to. Each row is the
 * median of the rounds; every pull is checked against the layer's digest. docs/azure.md.
 *
 *   npm run build && node --import tsx bench/azure.ts [--rounds 5] [--size-mib 64]
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
// Azurite is started as the tests start it (a development dependency).
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite } from '../test/helpers/azurite.js';
import { expectStatus, fileBody, request, resolveLocation } from './client.js';
import { digestOfFile, writeRandomFile } from './content.js';
import { startServer, type RunningServer } from './servers.js';
import { formatNumber, median, MiB, mbPerSecond, secondsSince } from './stats.js';

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
}

const ROUNDS = option('rounds', 5);
const SIZE = option('size-mib', 64) * MiB;
const CHUNK = 8 * MiB;
const CHECKOUT = join(import.meta.dirname, '..');

async function pushWhole(url: string, name: string, file: string, digest: string): Promise<void> {
  const started = expectStatus(await request(`${url}/v2/${name}/blobs/uploads/`, { method: 'POST' }), 202, 'POST');
  const target = resolveLocation(url, started);
  target.searchParams.set('digest', digest);
  const put = await request(target.toString(), {
    method: 'PUT',
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': SIZE },
    body: fileBody(file),
    keepBody: true,
  });
  expectStatus(put, 201, 'PUT');
}

async function pushChunked(url: string, name: string, file: string, digest: string): Promise<void> {
  let reply = expectStatus(await request(`${url}/v2/${name}/blobs/uploads/`, { method: 'POST' }), 202, 'POST');
  for (let offset = 0; offset < SIZE; offset += CHUNK) {
    const end = Math.min(offset + CHUNK, SIZE) - 1;
    reply = await request(resolveLocation(url, reply).toString(), {
      method: 'PATCH',
      headers: {
        'Content-Type': 'application/octet-stream',
        'Content-Length': end - offset + 1,
        'Content-Range': `${offset}-${end}`,
      },
      body: fileBody(file, { start: offset, end }),
      keepBody: true,
    });
    expectStatus(reply, 202, 'PATCH');
  }
  const target = resolveLocation(url, reply);
  target.searchParams.set('digest', digest);
  expectStatus(await request(target.toString(), { method: 'PUT', keepBody: true }), 201, 'PUT');
}

/** GETs a URL (following one redirect when asked) and checks the bytes against `digest`. */
function pull(url: string, digest: string, follow: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (response) => {
        if (follow && response.statusCode === 307 && response.headers.location) {
          response.resume();
          pull(response.headers.location, digest, false).then(resolve, reject);
          return;
        }
        if (response.statusCode !== 200) {
          reject(new Error(`GET ${url}: ${response.statusCode}`));
          return;
        }
        const hash = createHash('sha256');
        response.on('data', (chunk: Buffer) => hash.update(chunk));
        response.on('end', () => {
          const got = `sha256:${hash.digest('hex')}`;
          if (got === digest) resolve();
          else reject(new Error(`GET ${url}: digest ${got}, expected ${digest}`));
        });
        response.on('error', reject);
      })
      .on('error', reject);
  });
}

async function timed(work: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await work();
  return secondsSince(start);
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'berth-bench-azure-'));
  const azurite = await startAzurite();
  const servers: RunningServer[] = [];
  try {
    const container = await azurite.createContainer();
    const connection = `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${azurite.serviceUrl};`;
    const fs = await startServer('berth', { checkout: CHECKOUT, root: join(work, 'fs'), workDir: work, label: 'fs' });
    servers.push(fs);
    // The servers' configuration files name the filesystem driver; REGISTRY_STORAGE=azure (in the
    // environment the next servers inherit) replaces it, as in a container deployment.
    const azureServer = async (label: string, redirect: boolean): Promise<RunningServer> => {
      Object.assign(process.env, {
        REGISTRY_STORAGE: 'azure',
        REGISTRY_STORAGE_AZURE_CONTAINER: container,
        REGISTRY_STORAGE_AZURE_CONNECTIONSTRING: connection,
        REGISTRY_STORAGE_REDIRECT_DISABLE: String(!redirect),
      });
      try {
        return await startServer('berth', { checkout: CHECKOUT, root: join(work, label), workDir: work, label });
      } finally {
        for (const name of Object.keys(process.env)) if (name.startsWith('REGISTRY_STORAGE')) delete process.env[name];
      }
    };
    const streamed = await azureServer('azure-streamed', false);
    servers.push(streamed);
    const redirecting = await azureServer('azure-redirecting', true);
    servers.push(redirecting);
    const rows = new Map<string, number[]>();
    const record = (what: string, seconds: number) => rows.set(what, [...(rows.get(what) ?? []), seconds]);
    for (let round = 0; round < ROUNDS; round++) {
      const file = join(work, `layer-${round}`);
      await writeRandomFile(file, SIZE);
      const digest = await digestOfFile(file);
      for (const [label, server] of [
        ['filesystem', fs],
        ['azure', streamed],
      ] as const) {
        const name = `bench/${label}-${round}`;
        record(`${label}: push, one PUT`, await timed(() => pushWhole(server.url, name, file, digest)));
        record(
          `${label}: push, 8 MiB PATCH chunks`,
          await timed(() => pushChunked(server.url, `${name}-chunked`, file, digest)),
        );
        record(
          `${label}: pull through Berth`,
          await timed(() => pull(`${server.url}/v2/${name}/blobs/${digest}`, digest, false)),
        );
      }
      record(
        'azure: pull, redirected to a SAS URL',
        await timed(() => pull(`${redirecting.url}/v2/bench/azure-${round}/blobs/${digest}`, digest, true)),
      );
      rmSync(file);
    }
    console.log(
      `Berth, ${SIZE / MiB} MiB layer, ${ROUNDS} rounds (median), load average ${loadavg()
        .map((value) => value.toFixed(2))
        .join(' ')}`,
    );
    console.log('| what | seconds | MB/s |\n| --- | --- | --- |');
    for (const [what, all] of rows) {
      const seconds = median(all);
      console.log(`| ${what} | ${seconds.toFixed(2)} | ${formatNumber(mbPerSecond(SIZE, seconds))} |`);
    }
  } finally {
    for (const server of servers) await server.stop();
    await azurite.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
