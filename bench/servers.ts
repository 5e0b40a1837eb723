/**
 * Starts the two registries under test side by side on loopback ports, each over its own fresh
 * storage folder, with equivalent configuration: filesystem storage, deletion enabled, access log
 * off, log level error. Also reads their memory from /proc (summed over every process of a server,
 * so Berth's worker processes count).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from './client.js';

export type ServerName = 'berth' | 'distribution';

export interface RunningServer {
  name: ServerName;
  url: string;
  root: string;
  /** The process we started plus all its descendants (Berth's workers). */
  pids(): number[];
  /**
   * Stops the server and starts it again on the same port and storage (every cache in memory is
   * gone); resolves to the seconds from the spawn to the first `200` of `GET /v2/`.
   */
  restart(): Promise<number>;
  /** Seconds from the last spawn to the first `200`. */
  startSeconds: number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * The configuration both registries get (Distribution's format, which Berth reads too); `extra` is
 * appended. The storage cache and health check are those of Debian's packaged
 * /etc/docker/registry/config.yml, Distribution's standard configuration (Berth ignores
 * `storage.cache`: it keeps its own caches).
 */
export function configYaml(root: string, port: number, extra = ''): string {
  return `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: ${root}
  delete:
    enabled: true
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
http:
  addr: 127.0.0.1:${port}
${extra}`;
}

export interface StartOptions {
  /** Folder for the config file and the server's log. */
  workDir: string;
  /** Storage root (already populated, or empty). */
  root: string;
  /** Repository root of this checkout, for `dist/cli/main.js`. */
  checkout: string;
  /** Berth only: `berth.workers` (undefined keeps the default). */
  berthWorkers?: number;
  /** Extra node flags for Berth's processes (for example --cpu-prof). */
  nodeFlags?: string[];
  /** More top-level configuration, as YAML (`notifications:` for bench/notifications.ts). */
  extraConfig?: string;
  /** Name of the config and log files (default: the server's name). */
  label?: string;
}

export async function startServer(name: ServerName, options: StartOptions): Promise<RunningServer> {
  const port = await freePort();
  const extra =
    (name === 'berth' && options.berthWorkers !== undefined ? `berth:\n  workers: ${options.berthWorkers}\n` : '') +
    (options.extraConfig ?? '');
  const label = options.label ?? name;
  const configPath = join(options.workDir, `${label}.yml`);
  writeFileSync(configPath, configYaml(options.root, port, extra));
  const logPath = join(options.workDir, `${label}.log`);
  const log = openSync(logPath, 'a');
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess;
  let running: ReturnType<typeof watchExit>;
  const spawnOnce = async (): Promise<number> => {
    const started = process.hrtime.bigint();
    child =
      name === 'berth'
        ? spawn(
            process.execPath,
            [...(options.nodeFlags ?? []), join(options.checkout, 'dist/cli/main.js'), 'serve', configPath],
            { stdio: ['ignore', log, log], cwd: options.workDir },
          )
        : spawn('docker-registry', ['serve', configPath], { stdio: ['ignore', log, log], cwd: options.workDir });
    running = watchExit(child);
    await waitReady(url, running.exited, logPath);
    return Number(process.hrtime.bigint() - started) / 1e9;
  };
  const server: RunningServer = {
    name,
    url,
    root: options.root,
    startSeconds: await spawnOnce(),
    pids: () => (child.pid === undefined ? [] : [child.pid, ...descendants(child.pid)]),
    async restart() {
      await running.stop();
      server.startSeconds = await spawnOnce();
      return server.startSeconds;
    },
    stop: () => running.stop(),
  };
  return server;
}

/** Whether a server process has exited, and a stop that asks politely, then kills after 10 s. */
export function watchExit(child: ChildProcess): { exited(): boolean; stop(): Promise<void> } {
  let exited = false;
  const exitPromise = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  return {
    exited: () => exited,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exitPromise;
      clearTimeout(timer);
    },
  };
}

async function waitReady(url: string, hasExited: () => boolean, logPath: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (hasExited())
      throw new Error(`server exited during start; see ${logPath}:\n${readFileSync(logPath, 'utf8').slice(-2000)}`);
    try {
      const reply = await request(`${url}/v2/`, { method: 'GET' });
      if (reply.status === 200) return;
    } catch {
      // not listening yet
    }
    // Polled often: the time to the first 200 is a row of the table.
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`${url} did not answer within 30 s; see ${logPath}`);
}

/** Every descendant of a process, from /proc (Berth's workers are children of its primary). */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // the process ended while we looked
    }
  }
  const result: number[] = [];
  const queue = [...(children.get(pid) ?? [])];
  while (queue.length > 0) {
    const next = queue.shift()!;
    result.push(next);
    queue.push(...(children.get(next) ?? []));
  }
  return result;
}

export interface Memory {
  /** Sum of VmRSS over the server's processes, bytes. */
  rss: number;
  /** Sum of VmHWM (each process's peak RSS since it started), bytes. */
  hwm: number;
  /** Sum of Pss (shared pages divided among the processes that map them), bytes. */
  pss: number;
}

function statusField(text: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return match ? Number(match[1]) * 1024 : 0;
}

export function memoryOf(pids: number[]): Memory {
  const total: Memory = { rss: 0, hwm: 0, pss: 0 };
  for (const pid of pids) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      total.rss += statusField(status, 'VmRSS');
      total.hwm += statusField(status, 'VmHWM');
      total.pss += statusField(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'), 'Pss');
    } catch {
      // gone
    }
  }
  return total;
}
