/**
 * A throwaway redis-server on a 127.0.0.1 port, nothing saved to disk, for tests of state shared
 * by several Berth instances. `stop()` ends it; a watchdog ends it if the test process dies first.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tempDir } from './berth.js';
import { findTool, freePort, type Tool } from './tools.js';

export const redisTool = (): Tool => findTool('redis-server', 'redis-server', ['redis-server', '--version']);

export interface TestRedis {
  port: number;
  /** host:port, as the `redis.addr` configuration key takes it. */
  addr: string;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<TestRedis> {
  const port = await freePort();
  const dir = tempDir('berth-redis-');
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const watchdog = spawn(
    'sh',
    [
      '-c',
      `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -9 ${child.pid} 2>/dev/null; rm -rf '${dir}'`,
    ],
    {
      detached: true,
      stdio: 'ignore',
    },
  );
  watchdog.unref();
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5_000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    watchdog.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  while (!/Ready to accept connections/.test(output)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`redis-server did not start: ${output.slice(-2000)}`);
    }
    await sleep(20);
  }
  return { port, addr: `127.0.0.1:${port}`, stop };
}
