/**
 * What a Berth configured with `redis` answers while that Redis is down: blob uploads (a
 * single-request push and a chunked POST, PATCH, PUT), pulls of content stored before the
 * outage, and `/_berth/health`. Starts redis-server and `berth serve` (one process) from the
 * given checkout, pushes once with Redis up, kills Redis (SIGKILL), then sends `--pushes` uploads
 * of each kind one after another and counts the answers by status; then starts Redis again on the
 * same port and checks uploads work again. Every request is bounded by `--timeout` seconds (a
 * request that hits it counts as `timeout`).
 *
 *   node --import tsx bench/redis-down.ts [--pushes 50] [--storage filesystem|s3] [--checkout DIR]
 *
 * `--storage s3` runs over a throwaway Ceph cluster (test/helpers/ceph.ts, needs radosgw);
 * `--checkout` names another checkout (an older commit's worktree) to measure its sources.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { freePort } from './servers.js';
import { median } from './stats.js';

const here = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    pushes: { type: 'string', default: '50' },
    storage: { type: 'string', default: 'filesystem' },
    checkout: { type: 'string', default: here },
    timeout: { type: 'string', default: '30' },
  },
});
const pushes = Number(args.pushes);
const timeoutMs = Number(args.timeout) * 1000;

interface Answer {
  status: number | 'timeout' | 'error';
  ms: number;
  retryAfter?: string | null;
  code?: string;
}

async function send(url: string, init: RequestInit = {}): Promise<{ answer: Answer; response?: Response }> {
  const started = performance.now();
  try {
    const response = await fetch(url, { redirect: 'manual', ...init, signal: AbortSignal.timeout(timeoutMs) });
    const ms = performance.now() - started;
    return { answer: { status: response.status, ms, retryAfter: response.headers.get('retry-after') }, response };
  } catch (error) {
    const timedOut = (error as Error).name === 'TimeoutError';
    return { answer: { status: timedOut ? 'timeout' : 'error', ms: performance.now() - started } };
  }
}

async function errorCode(response: Response | undefined): Promise<string | undefined> {
  if (!response || response.status < 400) {
    await response?.body?.cancel();
    return undefined;
  }
  const text = await response.text();
  try {
    return (JSON.parse(text) as { errors?: Array<{ code?: string }> }).errors?.[0]?.code;
  } catch {
    return text.slice(0, 40);
  }
}

const digestOf = (content: Buffer) => `sha256:${createHash('sha256').update(content).digest('hex')}`;

/** A single-request push: `POST …/blobs/uploads/?digest=` with the body. */
async function monolithic(base: string, name: string, content = randomBytes(64 * 1024)): Promise<Answer> {
  const { answer, response } = await send(`${base}/v2/${name}/blobs/uploads/?digest=${digestOf(content)}`, {
    method: 'POST',
    body: content,
    headers: { 'Content-Type': 'application/octet-stream' },
  });
  return { ...answer, code: await errorCode(response) };
}

/** POST, PATCH, PUT: the first answer that is not the expected one is the push's answer. */
async function chunked(base: string, name: string): Promise<Answer> {
  const content = randomBytes(64 * 1024);
  const started = performance.now();
  const start = await send(`${base}/v2/${name}/blobs/uploads/`, { method: 'POST' });
  if (start.answer.status !== 202) return { ...start.answer, code: await errorCode(start.response) };
  await start.response?.body?.cancel();
  const location = new URL(start.response!.headers.get('location')!, base).href;
  const patch = await send(location, {
    method: 'PATCH',
    body: content,
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${content.length - 1}` },
  });
  if (patch.answer.status !== 202) return { ...patch.answer, code: await errorCode(patch.response) };
  await patch.response?.body?.cancel();
  const next = new URL(patch.response!.headers.get('location')!, base);
  next.searchParams.set('digest', digestOf(content));
  const put = await send(next.href, { method: 'PUT' });
  return { ...put.answer, ms: performance.now() - started, code: await errorCode(put.response) };
}

function summary(label: string, answers: Answer[]): string {
  const counts = new Map<string, number>();
  for (const answer of answers) {
    const key = `${answer.status}${answer.code ? ` ${answer.code}` : ''}${answer.retryAfter ? ` Retry-After ${answer.retryAfter}` : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const failed = answers.filter((answer) => answer.status !== 201).length;
  const times = answers.map((answer) => answer.ms);
  return `${label.padEnd(26)} failed ${String(failed).padStart(3)}/${answers.length} (${((100 * failed) / answers.length).toFixed(0)} %)  median ${median(times).toFixed(0)} ms, max ${Math.max(...times).toFixed(0)} ms  [${[...counts].map(([key, count]) => `${key}: ${count}`).join(', ')}]`;
}

interface Redis {
  child: ChildProcess;
  start(): Promise<void>;
  kill(): Promise<void>;
}

function redisOn(port: number, dir: string): Redis {
  const redis: Redis = {
    child: undefined as unknown as ChildProcess,
    async start() {
      const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      redis.child = child;
      let output = '';
      child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const deadline = Date.now() + 20_000;
      while (!output.includes('Ready to accept connections')) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`redis-server: ${output}`);
        await sleep(20);
      }
    },
    async kill() {
      const child = redis.child;
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGKILL');
      await exited;
    },
  };
  return redis;
}

async function serve(checkout: string, config: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', config], {
    cwd: checkout,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((done, fail) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error('berth did not start within 60 s'));
    }, 60_000);
    child.once('exit', (code) => fail(new Error(`berth exited (${code})`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = /Server listening at (\S+?)"/.exec(line);
      if (match) {
        clearTimeout(timer);
        done(match[1]!);
      }
    });
  });
  return { child, url };
}

async function health(base: string): Promise<string> {
  const { answer, response } = await send(`${base}/_berth/health`);
  const body = response ? await response.text() : '';
  return `${answer.status} in ${answer.ms.toFixed(0)} ms ${body}`;
}

const dir = mkdtempSync(join(tmpdir(), 'berth-redis-down-'));
const redisPort = await freePort();
const redis = redisOn(redisPort, dir);
const cleanups: Array<() => Promise<unknown>> = [async () => rmSync(dir, { recursive: true, force: true })];
try {
  await redis.start();
  cleanups.unshift(() => redis.kill());
  let storage: Record<string, unknown> = { filesystem: { rootdirectory: join(dir, 'data') } };
  if (args.storage === 's3') {
    const { startCeph } = await import('../test/helpers/ceph.js');
    const ceph = await startCeph();
    cleanups.unshift(() => ceph.stop());
    storage = { s3: ceph.s3Config(await ceph.createBucket()) };
  }
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    stringify({
      version: '0.1',
      // info: the "Server listening at" line gives the port.
      log: { level: 'info', accesslog: { disabled: true } },
      storage: { ...storage, delete: { enabled: true }, maintenance: { uploadpurging: { enabled: false } } },
      http: { addr: '127.0.0.1:0' },
      redis: { addr: `127.0.0.1:${redisPort}` },
      berth: { workers: 1 },
    }),
  );
  const berth = await serve(resolve(args.checkout), config);
  cleanups.unshift(async () => {
    berth.child.kill('SIGKILL');
  });
  const base = berth.url;
  console.log(`storage ${args.storage}, ${pushes} uploads of each kind, checkout ${resolve(args.checkout)}`);
  const stored = randomBytes(64 * 1024);
  const before = await monolithic(base, 'outage/before', stored);
  console.log(`Redis up:   single-request push ${before.status}; health ${await health(base)}`);

  await redis.kill();
  const single: Answer[] = [];
  const chunks: Answer[] = [];
  for (let index = 0; index < pushes; index++) {
    single.push(await monolithic(base, `outage/single-${index % 5}`));
    chunks.push(await chunked(base, `outage/chunked-${index % 5}`));
  }
  // Followed: on S3 a blob GET answers 307 to a presigned URL.
  const pull = await send(`${base}/v2/outage/before/blobs/${digestOf(stored)}`, { redirect: 'follow' });
  const pulled = pull.response ? Buffer.from(await pull.response.arrayBuffer()) : Buffer.alloc(0);
  console.log('Redis down:');
  console.log(
    `  blob GET of a blob stored before: ${pull.answer.status}, bytes ${pulled.equals(stored) ? 'identical' : 'differ'}`,
  );
  console.log(`  ${summary('single-request push', single)}`);
  console.log(`  ${summary('chunked POST, PATCH, PUT', chunks)}`);
  console.log(`  health ${await health(base)}`);

  await redis.start();
  await sleep(2_000); // ioredis reconnects with backoff
  const again = [await monolithic(base, 'outage/after'), await chunked(base, 'outage/after')];
  console.log(`Redis back: uploads ${again.map((answer) => answer.status).join(', ')}; health ${await health(base)}`);
} finally {
  for (const cleanup of cleanups) await cleanup().catch(() => undefined);
}
