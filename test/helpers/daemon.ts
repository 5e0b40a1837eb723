/**
 * A server the tests start as a child process (redis-server, Azurite): its output is kept for the
 * error message if it does not start, `stop()` ends it (SIGTERM, then SIGKILL after 5 s) and
 * removes its folder, and a watchdog does the same if the test process dies first.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Daemon {
  /** Sends a signal (SIGSTOP to play a server that hangs, SIGCONT to let it go on). */
  signal(signal: NodeJS.Signals): void;
  stop(): Promise<void>;
}

export interface DaemonOptions {
  /** What its output says once it serves. */
  ready: RegExp;
  /** A folder of its own, removed when it stops. */
  dir?: string;
  boundMs: number;
}

export async function startDaemon(command: string, args: string[], options: DaemonOptions): Promise<Daemon> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const removal = options.dir ? `rm -rf '${options.dir}'` : 'true';
  const watchdog = spawn(
    'sh',
    ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -9 ${child.pid} 2>/dev/null; ${removal}`],
    { detached: true, stdio: 'ignore' },
  );
  watchdog.unref();
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGCONT'); // a stopped process acts on SIGTERM only once continued
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5_000, undefined, { ref: false })]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    watchdog.kill('SIGKILL');
    if (options.dir) rmSync(options.dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + options.boundMs;
  while (!options.ready.test(output)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`${command} did not start: ${output.slice(-2000)}`);
    }
    await sleep(20);
  }
  return {
    signal: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    stop,
  };
}
