/**
 * A throwaway Redis server (Debian's `redis-server`) on a free loopback port, with no
 * persistence, that can be stopped and started again on the same port (test/helpers/redis.ts
 * starts one that only stops): for the tests of Berth serving through a Redis outage.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tempDir } from '../helpers/berth.js';
import { freePort } from '../helpers/tools.js';

export { redisTool } from '../helpers/redis.js';

export interface RedisServer {
  port: number;
  addr: string;
  /** Stops the server and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port (empty: nothing is persisted). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

const BOUND_MS = 15_000;

function launch(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`redis-server did not start within ${BOUND_MS} ms:\n${output}`)),
      BOUND_MS,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolve(child);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${code}):\n${output}`));
    });
  });
}

function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), BOUND_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export async function startRedis(): Promise<RedisServer> {
  const dir = tempDir('berth-redis-');
  const port = await freePort();
  let child: ChildProcess | undefined = await launch(port, dir);
  return {
    port,
    addr: `127.0.0.1:${port}`,
    async stop() {
      await stopChild(child);
      child = undefined;
    },
    async restart() {
      if (!child) child = await launch(port, dir);
    },
    async close() {
      await stopChild(child);
      child = undefined;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
