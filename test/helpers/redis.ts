/**
 * A throwaway redis-server on a 127.0.0.1 port, nothing saved to disk, for tests of state shared
 * by several Berth instances. `stop()` ends it; a watchdog ends it if the test process dies first.
 */
import { tempDir } from './berth.js';
import { startDaemon } from './daemon.js';
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
  const { stop } = await startDaemon(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { ready: /Ready to accept connections/, dir, boundMs: 20_000 },
  );
  return { port, addr: `127.0.0.1:${port}`, stop };
}
