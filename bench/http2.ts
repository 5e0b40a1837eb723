/**
 * HTTP/1.1 against HTTP/2 on the same server (docs/performance.md, "HTTP/2"), with curl as the
 * client for both: Berth over TLS (ALPN), Berth with h2c, and Distribution 2.8 (Debian's
 * docker-registry) over TLS, each with a self-signed certificate made by openssl.
 *
 *   download   GET of a 64 MiB blob, one stream                                  MB/s
 *   upload     the same 64 MiB as one PUT closing an upload                      MB/s
 *   small      500 GETs of a 4 KiB blob, at most 20 at once (`curl --parallel`): requests/s;
 *              HTTP/1.1 opens up to 20 connections, HTTP/2 multiplexes them on one (not run
 *              for h2c: curl 7.88 cannot reuse a prior-knowledge connection)
 *
 * Every server runs every protocol once per round, for several rounds; each cell is
 * min / median / max over the rounds. Berth runs from this checkout's sources (tsx).
 *
 *   node --import tsx bench/http2.ts [--rounds 3] [--out results.json]
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { digestOfFile, writeRandomFile } from './content.js';
import { freePort, watchExit } from './servers.js';
import { formatNumber, median, MiB } from './stats.js';

const here = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: { rounds: { type: 'string', default: '3' }, out: { type: 'string' } },
});
const rounds = Number(args.rounds);

const BIG = 64 * MiB;
const SMALL = 4096;
const SMALL_REQUESTS = 500;
const PARALLEL = 20;

type Protocol = 'http1.1' | 'http2';

interface Server {
  name: string;
  url: string;
  /** curl's flag for HTTP/2 on this server (ALPN over TLS, prior knowledge for h2c). */
  http2Flag: string;
  stop(): Promise<void>;
}

function curl(curlArgs: string[], quiet = false): string {
  return execFileSync('curl', ['-sS', '-k', '--fail', ...curlArgs], {
    encoding: 'utf8',
    maxBuffer: 16 * MiB,
    stdio: ['ignore', 'pipe', quiet ? 'ignore' : 'inherit'],
  });
}

async function waitReady(url: string, exited: () => boolean): Promise<void> {
  for (let attempt = 0; attempt < 300; attempt++) {
    if (exited()) throw new Error(`${url}: the server exited`);
    try {
      curl(['-o', '/dev/null', `${url}/v2/`], true);
      return;
    } catch {
      await new Promise((done) => setTimeout(done, 100));
    }
  }
  throw new Error(`${url} did not start`);
}

async function start(name: string, work: string, tls: string, extra: string, berth: boolean): Promise<Server> {
  const port = await freePort();
  const root = join(work, `${name}-data`);
  const config = join(work, `${name}.yml`);
  writeFileSync(
    config,
    `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
${tls}${extra}`,
  );
  const child: ChildProcess = berth
    ? spawn(process.execPath, ['--import', 'tsx', join(here, 'src/cli/main.ts'), 'serve', config], {
        stdio: 'ignore',
        cwd: here,
      })
    : spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
  const running = watchExit(child);
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  await waitReady(url, running.exited);
  return { name, url, http2Flag: tls ? '--http2' : '--http2-prior-knowledge', stop: running.stop };
}

function flag(server: Server, protocol: Protocol): string {
  return protocol === 'http2' ? server.http2Flag : '--http1.1';
}

/** Pushes `file` into `repository` (POST, then one PUT with the bytes); returns the PUT's seconds. */
function pushBlob(server: Server, protocol: Protocol, repository: string, file: string, digest: string): number {
  const head = curl([
    flag(server, protocol),
    '-X',
    'POST',
    '-D',
    '-',
    '-o',
    '/dev/null',
    `${server.url}/v2/${repository}/blobs/uploads/`,
  ]);
  const location = /^location:\s*(\S+)/im.exec(head)?.[1];
  if (!location) throw new Error(`${server.name}: no upload location`);
  const target = new URL(location, server.url);
  target.searchParams.set('digest', digest);
  const seconds = curl([
    flag(server, protocol),
    '-X',
    'PUT',
    '-H',
    'Content-Type: application/octet-stream',
    '--data-binary',
    `@${file}`,
    '-o',
    '/dev/null',
    '-w',
    '%{time_total}',
    target.href,
  ]);
  return Number(seconds);
}

function download(server: Server, protocol: Protocol, digest: string): number {
  const speed = curl([
    flag(server, protocol),
    '-o',
    '/dev/null',
    '-w',
    '%{speed_download} %{http_version}',
    `${server.url}/v2/bench/h2/blobs/${digest}`,
  ]);
  const [bytesPerSecond, version] = speed.split(' ');
  if (version !== (protocol === 'http2' ? '2' : '1.1')) throw new Error(`${server.name}: spoke HTTP/${version}`);
  return Number(bytesPerSecond) / 1e6;
}

function upload(server: Server, protocol: Protocol, file: string, digest: string): number {
  return BIG / 1e6 / pushBlob(server, protocol, 'bench/up', file, digest);
}

function smallRequests(server: Server, protocol: Protocol, digest: string, work: string): number {
  // curl 7.88 cannot reuse a prior-knowledge connection (curl issue 10634, fixed in 8.0): every
  // request after the first fails with "Error in the HTTP2 framing layer", whatever the server.
  if (protocol === 'http2' && server.http2Flag === '--http2-prior-knowledge') return Number.NaN;
  const list = join(work, 'small.curl');
  const url = `${server.url}/v2/bench/h2/blobs/${digest}`;
  writeFileSync(list, Array.from({ length: SMALL_REQUESTS }, () => `url = "${url}"\noutput = "/dev/null"\n`).join(''));
  const started = process.hrtime.bigint();
  curl([flag(server, protocol), '--parallel', '--parallel-max', String(PARALLEL), '-K', list]);
  return SMALL_REQUESTS / (Number(process.hrtime.bigint() - started) / 1e9);
}

const work = mkdtempSync(join(tmpdir(), 'berth-bench-h2-'));
const servers: Server[] = [];
try {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      join(work, 'tls.key'),
      '-out',
      join(work, 'tls.crt'),
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  const tls = `  tls:\n    certificate: ${join(work, 'tls.crt')}\n    key: ${join(work, 'tls.key')}\n`;
  servers.push(await start('berth-tls', work, tls, '', true));
  servers.push(await start('berth-h2c', work, '', '  h2c:\n    enabled: true\n', true));
  servers.push(await start('distribution-tls', work, tls, '', false));
  const big = join(work, 'big.bin');
  const small = join(work, 'small.bin');
  await writeRandomFile(big, BIG);
  await writeRandomFile(small, SMALL);
  const bigDigest = await digestOfFile(big);
  const smallDigest = await digestOfFile(small);
  for (const server of servers) {
    pushBlob(server, 'http1.1', 'bench/h2', big, bigDigest);
    pushBlob(server, 'http1.1', 'bench/h2', small, smallDigest);
  }
  const results = new Map<string, number[]>();
  const record = (key: string, value: number) => results.set(key, [...(results.get(key) ?? []), value]);
  for (let round = 0; round < rounds; round++) {
    // Alternate which protocol goes first, so neither always meets a warmer page cache.
    const protocols: Protocol[] = round % 2 === 0 ? ['http1.1', 'http2'] : ['http2', 'http1.1'];
    for (const server of servers) {
      for (const protocol of protocols) {
        record(`${server.name} ${protocol} download`, download(server, protocol, bigDigest));
        record(`${server.name} ${protocol} upload`, upload(server, protocol, big, bigDigest));
        record(`${server.name} ${protocol} small`, smallRequests(server, protocol, smallDigest, work));
      }
    }
  }
  const cell = (key: string) => {
    const values = (results.get(key) ?? []).filter(Number.isFinite);
    if (values.length === 0) return 'n/a';
    return `${formatNumber(Math.min(...values))} / ${formatNumber(median(values))} / ${formatNumber(Math.max(...values))}`;
  };
  console.log(
    `| server | protocol | download 64 MiB (MB/s) | upload 64 MiB (MB/s) | ${SMALL_REQUESTS} × 4 KiB GET, ${PARALLEL} at once (req/s) |`,
  );
  console.log('| --- | --- | --- | --- | --- |');
  for (const server of servers)
    for (const protocol of ['http1.1', 'http2'] as Protocol[])
      console.log(
        `| ${server.name} | ${protocol === 'http2' ? 'HTTP/2' : 'HTTP/1.1'} | ${cell(`${server.name} ${protocol} download`)} | ${cell(`${server.name} ${protocol} upload`)} | ${cell(`${server.name} ${protocol} small`)} |`,
      );
  if (args.out) writeFileSync(args.out, JSON.stringify(Object.fromEntries(results), null, 2));
} finally {
  for (const server of servers) await server.stop();
  rmSync(work, { recursive: true, force: true });
}
