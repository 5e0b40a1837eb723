/**
 * Runs the real CNCF Distribution registry (Debian's `docker-registry`, 2.8) on a loopback port
 * over a given storage folder, for tests that check Berth against it: same storage layout, same
 * answers. It is started as `docker-registry serve config.yml` and is ready once GET /v2/
 * answers 200.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { tempDir } from './berth.js';
import { freePort } from './tools.js';

export interface Distribution {
  url: string;
  host: string;
  root: string;
  /** Everything the process wrote to stderr so far (its log), for failure messages. */
  log(): string;
  /** Stops the process; removes the storage folder too when the helper made it. */
  close(): Promise<void>;
}

const READY_ATTEMPTS = 150;
const READY_INTERVAL_MS = 100;

async function waitUntilReady(url: string, child: ChildProcess, log: () => string): Promise<void> {
  for (let attempt = 0; attempt < READY_ATTEMPTS; attempt++) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`docker-registry exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${log()}`);
    }
    try {
      const response = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, READY_INTERVAL_MS));
  }
  throw new Error(`docker-registry did not answer GET /v2/ with 200 in time:\n${log()}`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

async function startOnce(root: string, port: number, ownsRoot: boolean): Promise<Distribution> {
  const configDir = tempDir('distribution-config-');
  const configPath = join(configDir, 'config.yml');
  writeFileSync(
    configPath,
    stringify({
      version: 0.1,
      log: { level: 'warn', accesslog: { disabled: true } },
      storage: { filesystem: { rootdirectory: root }, delete: { enabled: true } },
      http: { addr: `127.0.0.1:${port}`, secret: 'interop-tests' },
    }),
  );
  const child = spawn('docker-registry', ['serve', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-20_000);
  });
  const host = `127.0.0.1:${port}`;
  const url = `http://${host}`;
  const log = () => stderr;
  const close = async () => {
    await stop(child);
    rmSync(configDir, { recursive: true, force: true });
    if (ownsRoot) rmSync(root, { recursive: true, force: true });
  };
  try {
    await waitUntilReady(url, child, log);
  } catch (error) {
    // The caller may retry on the same root, so only this attempt's process and config go.
    await stop(child);
    rmSync(configDir, { recursive: true, force: true });
    throw error;
  }
  return { url, host, root, log, close };
}

/** Starts docker-registry over `root` (a fresh temporary folder by default), deletion enabled. */
export async function startDistribution(options: { root?: string } = {}): Promise<Distribution> {
  const ownsRoot = options.root === undefined;
  const root = options.root ?? tempDir('distribution-');
  // The port is chosen before the process binds it; retry if another process took it meanwhile.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(root, await freePort(), ownsRoot);
    } catch (error) {
      if (attempt < 3 && String(error).includes('address already in use')) continue;
      if (ownsRoot) rmSync(root, { recursive: true, force: true });
      throw error;
    }
  }
}
