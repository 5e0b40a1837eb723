/**
 * A throwaway single-node Ceph cluster with an S3 gateway, for tests of the S3 storage driver
 * against a real S3 server. Everything lives in a temporary folder and on 127.0.0.1 ports:
 * one monitor, one OSD keeping objects in memory (memstore), radosgw, and one S3 user.
 *
 * What makes it start in about two seconds: `auth … required = none` everywhere (no keys to
 * make), pool size 1 with `osd crush chooseleaf type = 0` (one OSD is enough), few placement
 * groups, and `paxos propose interval = 0.05` (the monitor commits maps at once instead of every
 * second). The gateway needs `ms mon client mode = crc` and `auth client required = none` in its
 * own section, or it retries authentication until a 300 s timeout. `tcp_nodelay=1` on the gateway
 * avoids a 40 ms stall per small response (Nagle against the client's delayed ACK).
 *
 * Daemons run in the foreground as children of the test process; `stop()` ends them and removes
 * the folder. A small watchdog ends them too if the test process dies without stopping them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { tempDir } from './berth.js';
import { findTool, freePort, run, type RunResult, type Tool } from './tools.js';

export const cephTools = (): Tool[] => [
  findTool('ceph-mon', 'ceph-mon', ['ceph-mon', '--version']),
  findTool('ceph-osd', 'ceph-osd', ['ceph-osd', '--version']),
  findTool('radosgw', 'radosgw', ['radosgw', '--version']),
  findTool('ceph (ceph-common)', 'ceph-common', ['ceph', '--version']),
];

export interface CephCluster {
  /** The S3 endpoint, path-style: http://127.0.0.1:<port>. */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region: string;
  dir: string;
  /** An S3 client of the test user, to look into buckets directly (stopped with the cluster). */
  client: S3Client;
  /** Creates a bucket with a fresh name (or the given one) and returns its name. */
  createBucket(name?: string): Promise<string>;
  /** A `storage.s3` configuration block for `bucket`, plus `extra` keys. */
  s3Config(bucket: string, extra?: Record<string, unknown>): Record<string, unknown>;
  /** Runs `radosgw-admin` on the cluster (quotas, bucket stats); rejects when it fails. */
  admin(args: string[]): Promise<RunResult>;
  stop(): Promise<void>;
}

/** Bound on the whole start-up; far above the usual two seconds. */
const START_BOUND_MS = 90_000;

function config(dir: string, fsid: string, monPort: number, rgwPort: number): string {
  return `[global]
fsid = ${fsid}
mon host = v2:127.0.0.1:${monPort}
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = true
mon warn on insecure global id reclaim allowed = false
ms bind ipv6 = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = ${8 * 1024 ** 3}
mon allow pool delete = true
paxos propose interval = 0.05
run dir = ${dir}/run
admin socket = ${dir}/run/$name.asok
pid file = ${dir}/run/$name.pid
log file = ${dir}/log/$name.log
mon cluster log file = ${dir}/log/cluster.log
mon data = ${dir}/mon/$id
osd data = ${dir}/osd/$id
keyring = ${dir}/keyring
[client]
ms mon client mode = crc
auth client required = none
[client.rgw.test]
ms mon client mode = crc
auth client required = none
rgw frontends = beast endpoint=127.0.0.1:${rgwPort} tcp_nodelay=1
rgw data = ${dir}/rgw
rgw enable usage log = false
`;
}

export async function startCeph(): Promise<CephCluster> {
  const started = Date.now();
  const dir = tempDir('berth-ceph-');
  for (const sub of ['run', 'log', 'mon', 'osd/0', 'rgw']) mkdirSync(join(dir, sub), { recursive: true });
  const [monPort, rgwPort] = [await freePort(), await freePort()];
  const fsid = randomUUID();
  const conf = join(dir, 'ceph.conf');
  writeFileSync(conf, config(dir, fsid, monPort, rgwPort));
  writeFileSync(join(dir, 'keyring'), '');
  const daemons: ChildProcess[] = [];
  let watchdog: ChildProcess | undefined;
  const remaining = () => Math.max(1_000, START_BOUND_MS - (Date.now() - started));
  const ceph = (args: string[]) =>
    run('ceph', ['-c', conf, '--connect-timeout', '10', ...args], { timeout: Math.min(30_000, remaining()) });
  const daemon = (command: string, args: string[]) => {
    const child = spawn(command, ['-f', '-c', conf, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    child.on('error', () => undefined);
    Object.defineProperty(child, 'berthStderr', { get: () => stderr });
    daemons.push(child);
    return child;
  };
  const killAll = () => {
    for (const child of daemons) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.once('exit', killAll);
  const stop = async () => {
    process.removeListener('exit', killAll);
    for (const child of [...daemons].reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5_000)]);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await Promise.race([exited, sleep(5_000)]);
      }
    }
    watchdog?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await run(
      'monmaptool',
      ['--create', '--clobber', '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, '--fsid', fsid, join(dir, 'monmap')],
      { timeout: 30_000 },
    );
    await run('ceph-mon', ['-c', conf, '--mkfs', '-i', 'a', '--monmap', join(dir, 'monmap')], { timeout: 30_000 });
    daemon('ceph-mon', ['-i', 'a']);
    const osdId = (await retry(() => ceph(['osd', 'create']), remaining)).stdout.trim();
    if (osdId !== '0') throw new Error(`expected OSD id 0, got ${osdId}`);
    await run('ceph-osd', ['-c', conf, '-i', '0', '--mkfs'], { timeout: 30_000 });
    daemon('ceph-osd', ['-i', '0']);
    daemon('radosgw', ['-n', 'client.rgw.test']);
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    await retry(async () => {
      for (const child of daemons) {
        if (child.exitCode !== null)
          throw new Fatal(
            `${child.spawnfile} exited with ${child.exitCode}: ${(child as unknown as { berthStderr: string }).berthStderr}`,
          );
      }
      const response = await fetch(endpoint, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`radosgw answered ${response.status}`);
    }, remaining);
    const accessKey = `berth${randomUUID().slice(0, 8)}`;
    const secretKey = randomUUID();
    await retry(
      () =>
        run(
          'radosgw-admin',
          [
            '-c',
            conf,
            'user',
            'create',
            '--uid',
            'berth-test',
            '--display-name',
            'Berth tests',
            '--access-key',
            accessKey,
            '--secret-key',
            secretKey,
          ],
          { timeout: 30_000 },
        ),
      remaining,
    );
    watchdog = spawn(
      'sh',
      [
        '-c',
        `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -9 ${daemons.map((child) => child.pid).join(' ')} 2>/dev/null; rm -rf '${dir}'`,
      ],
      {
        detached: true,
        stdio: 'ignore',
      },
    );
    watchdog.unref();
    const region = 'us-east-1';
    const client = new S3Client({
      region,
      endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
    });
    return {
      endpoint,
      accessKey,
      secretKey,
      region,
      dir,
      client,
      async createBucket(name = `berth-${randomUUID().slice(0, 12)}`) {
        await client.send(new CreateBucketCommand({ Bucket: name }));
        return name;
      },
      s3Config(bucket, extra = {}) {
        return {
          region,
          regionendpoint: endpoint,
          forcepathstyle: true,
          bucket,
          accesskey: accessKey,
          secretkey: secretKey,
          ...extra,
        };
      },
      admin: (args) => run('radosgw-admin', ['-c', conf, ...args], { timeout: 30_000 }),
      async stop() {
        client.destroy();
        await stop();
      },
    };
  } catch (error) {
    const logs = logTails(join(dir, 'log'));
    await stop();
    throw new Error(`Ceph did not start: ${(error as Error).message}\n${logs}`);
  }
}

/** An error that retrying cannot fix. */
class Fatal extends Error {}

async function retry<T>(work: () => Promise<T>, remaining: () => number): Promise<T> {
  let pause = 50;
  for (;;) {
    try {
      return await work();
    } catch (error) {
      if (error instanceof Fatal || remaining() <= 1_000) throw error;
      await sleep(pause);
      pause = Math.min(pause * 2, 500);
    }
  }
}

/** The last lines of each daemon log, for a start-up failure's message. */
function logTails(folder: string): string {
  try {
    return readdirSync(folder)
      .map((name) => `--- ${name}\n${readFileSync(join(folder, name), 'utf8').split('\n').slice(-15).join('\n')}`)
      .join('\n');
  } catch {
    return '';
  }
}
