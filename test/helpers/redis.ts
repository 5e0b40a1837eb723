/**
 * A throwaway redis-server on a 127.0.0.1 port, nothing saved to disk, for tests of state shared
 * by several Berth instances. `stop()` ends it; a watchdog ends it if the test process dies first.
 * `port` starts it on a given port (to bring back a Redis a test stopped, at the same address).
 */
import { tempDir } from './berth.js';
import { startDaemon } from './daemon.js';
import { findTool, freePort, type Tool } from './tools.js';

export const redisTool = (): Tool => findTool('redis-server', 'redis-server', ['redis-server', '--version']);

export interface TestRedis {
  port: number;
  /** host:port, as the `redis.addr` configuration key takes it. */
  addr: string;
  /** Stops the process (SIGSTOP): connections stay open, nothing is answered, as from a hung Redis. */
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

export async function startRedis(options: { port?: number } = {}): Promise<TestRedis> {
  const port = options.port ?? (await freePort());
  const dir = tempDir('berth-redis-');
  const daemon = await startDaemon(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { ready: /Ready to accept connections/, dir, boundMs: 20_000 },
  );
  return {
    port,
    addr: `127.0.0.1:${port}`,
    pause: () => daemon.signal('SIGSTOP'),
    resume: () => daemon.signal('SIGCONT'),
    stop: () => daemon.stop(),
  };
}
