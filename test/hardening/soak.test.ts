/**
 * Soak: Berth in its own process (`berth serve` through tsx), driven by autocannon from this one
 * at full speed for a fixed count of requests: pushes (monolithic blob uploads and manifests),
 * pulls (manifests and blobs) and catalog reads, mixed on every connection. Afterwards every
 * pushed image pulls back byte for byte, and the server's resident memory is back near where it
 * was after a warm-up round. Bounded in count and time.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { stringify } from 'yaml';
import { tempDir } from '../helpers/berth.js';
import { serveBerth, waitForExit, type BerthProcess } from '../helpers/berth-process.js';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST } from '../helpers/content.js';
import { client } from '../helpers/http.js';

const CONNECTIONS = 8;
const WARM_UP = 600;
const SOAK = 3000;
/** How far above its warmed-up size the server may stay once the load is over. */
const MEMORY_SLACK_BYTES = 96 * 1024 * 1024;

interface Pushed {
  name: string;
  tag: string;
  manifest: Buffer;
  layer: string;
  config: string;
}

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
  return kib * 1024;
}

function digestString(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

interface Round {
  pushed: Pushed[];
  statuses: Map<number, number>;
}

/** One autocannon run of `amount` requests; each connection repeats push, pull, catalog. */
async function round(url: string, amount: number, label: string): Promise<Round> {
  const pushed: Pushed[] = [];
  const statuses = new Map<number, number>();
  const count = (status: number) => statuses.set(status, (statuses.get(status) ?? 0) + 1);
  let sequence = 0;
  type Context = { name: string; tag: string; layer: Buffer; config: Buffer; manifest?: Buffer };
  const blobPush = (pick: (context: Context) => Buffer) => ({
    method: 'POST' as const,
    setupRequest: (request: Record<string, unknown>, context: Context) => {
      const content = pick(context);
      return {
        ...request,
        path: `/v2/${context.name}/blobs/uploads/?digest=${digestString(content)}`,
        body: content,
        headers: { 'content-type': 'application/octet-stream' },
      };
    },
    onResponse: (status: number) => count(status),
  });
  const requests = [
    blobPush((context: Context) => {
      // A fresh image for every pass of the sequence.
      sequence += 1;
      context.name = `soak/${label}-${sequence % 7}`;
      context.tag = `t${sequence}`;
      context.layer = randomBytes(1024 + ((sequence * 7919) % 60_000));
      context.config = Buffer.from(
        JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, n: sequence }),
      );
      return context.layer;
    }),
    blobPush((context: Context) => context.config),
    {
      method: 'PUT' as const,
      setupRequest: (request: Record<string, unknown>, context: Context) => {
        context.manifest = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: OCI_MANIFEST,
            config: { mediaType: OCI_CONFIG, digest: digestString(context.config), size: context.config.length },
            layers: [{ mediaType: OCI_LAYER, digest: digestString(context.layer), size: context.layer.length }],
          }),
        );
        return {
          ...request,
          path: `/v2/${context.name}/manifests/${context.tag}`,
          body: context.manifest,
          headers: { 'content-type': OCI_MANIFEST },
        };
      },
      onResponse: (status: number, _body: string, context: Context) => {
        count(status);
        if (status === 201) {
          pushed.push({
            name: context.name,
            tag: context.tag,
            manifest: context.manifest!,
            layer: digestString(context.layer),
            config: digestString(context.config),
          });
        }
      },
    },
    {
      method: 'GET' as const,
      setupRequest: (request: Record<string, unknown>, context: Context) => ({
        ...request,
        path: `/v2/${context.name}/manifests/${context.tag}`,
        headers: { accept: OCI_MANIFEST },
      }),
      onResponse: (status: number) => count(status),
    },
    {
      method: 'GET' as const,
      setupRequest: (request: Record<string, unknown>, context: Context) => ({
        ...request,
        path: `/v2/${context.name}/blobs/${digestString(context.layer)}`,
      }),
      onResponse: (status: number) => count(status),
    },
    { method: 'GET' as const, path: '/v2/_catalog?n=50', onResponse: (status: number) => count(status) },
  ];
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    amount,
    timeout: 30,
    requests: requests as unknown as autocannon.Request[],
  });
  assert.equal(result.errors, 0, `${label}: connection errors`);
  assert.equal(result.timeouts, 0, `${label}: timeouts`);
  assert.equal(result.non2xx, 0, `${label}: non-2xx answers ${JSON.stringify([...statuses])}`);
  return { pushed, statuses };
}

describe('soak: mixed pushes, pulls and catalog reads from another process', () => {
  let folder: string;
  let berth: BerthProcess & { url: string };

  before(async () => {
    folder = tempDir('berth-soak-');
    const file = join(folder, 'config.yml');
    writeFileSync(
      file,
      stringify({
        version: '0.1',
        log: { level: 'info', accesslog: { disabled: true } },
        storage: { filesystem: { rootdirectory: join(folder, 'data') }, delete: { enabled: true } },
        http: { addr: '127.0.0.1:0' },
        // One process, whose memory /proc shows.
        berth: { workers: 1 },
      }),
    );
    berth = await serveBerth({ args: ['serve', file] });
  });

  after(async () => {
    berth?.kill();
    if (berth) await waitForExit(berth);
    rmSync(folder, { recursive: true, force: true });
  });

  it(`serves ${SOAK} requests without an error, every image pulls back identical, memory settles`, async () => {
    const pid = berth.child.pid!;
    const warm = await round(berth.url, WARM_UP, 'warm');
    await sleep(500);
    const baseline = rssBytes(pid);
    const soak = await round(berth.url, SOAK, 'soak');
    const peak = rssBytes(pid);
    const total = [...soak.statuses.values()].reduce((sum, value) => sum + value, 0);
    assert.ok(total >= SOAK, `${total} answers counted`);

    const api = client(berth.url);
    const images = [...warm.pushed, ...soak.pushed];
    assert.ok(soak.pushed.length >= SOAK / 6 - CONNECTIONS, `${soak.pushed.length} images pushed`);
    for (const image of images) {
      const manifest = await api('GET', `/v2/${image.name}/manifests/${image.tag}`, {
        headers: { Accept: OCI_MANIFEST },
      });
      assert.equal(manifest.status, 200, `${image.name}:${image.tag}`);
      assert.ok(manifest.body.equals(image.manifest), `${image.name}:${image.tag} manifest bytes`);
      for (const digest of [image.layer, image.config]) {
        const blob = await api('GET', `/v2/${image.name}/blobs/${digest}`);
        assert.equal(blob.status, 200);
        assert.equal(digestString(blob.body), digest, `${image.name} ${digest}`);
      }
    }

    // Memory returns near its warmed-up size (polled, bounded).
    let settled = rssBytes(pid);
    for (let attempt = 0; attempt < 50 && settled > baseline + MEMORY_SLACK_BYTES; attempt += 1) {
      await sleep(200);
      settled = rssBytes(pid);
    }
    const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
    console.log(
      `soak: ${images.length} images; server RSS after warm-up ${mib(baseline)}, after the soak ${mib(peak)}, settled ${mib(settled)}`,
    );
    assert.ok(settled <= baseline + MEMORY_SLACK_BYTES, `RSS ${mib(settled)} vs ${mib(baseline)} after warm-up`);
  });
});
