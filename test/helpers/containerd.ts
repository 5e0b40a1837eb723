/**
 * Debian's containerd, run as its own daemon for one test suite: root, state and socket in a
 * temporary folder (nothing of the machine's containerd is used), the CRI plugin off. `pull`
 * runs `ctr images pull --hosts-dir DIR --plain-http`, which reads DIR/<registry>/hosts.toml as
 * containerd's CRI and Kubernetes nodes do, and unpacks the image into the native snapshotter.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { tempDir } from './berth.js';
import { findTool, run, type RunResult } from './tools.js';

export const containerdTool = () => findTool('containerd', 'containerd', ['ctr', '--version']);

export interface TestContainerd {
  socket: string;
  /** `ctr images pull` through the hosts folder; resolves with the result (also on failure). */
  pull(reference: string, hostsDir: string): Promise<RunResult>;
  ctr(args: string[]): Promise<RunResult>;
  close(): Promise<void>;
}

/** A hosts folder naming `mirror` (http://host:port) as the pull and resolve host of `registry`. */
export function writeHostsDir(folder: string, registry: string, mirror: string): string {
  const dir = join(folder, 'hosts.d');
  mkdirSync(join(dir, registry), { recursive: true });
  writeFileSync(
    join(dir, registry, 'hosts.toml'),
    [`server = "https://${registry}"`, '', `[host."${mirror}"]`, '  capabilities = ["pull", "resolve"]', ''].join('\n'),
  );
  return dir;
}

export async function startContainerd(): Promise<TestContainerd> {
  const dir = tempDir('berth-containerd-');
  const socket = join(dir, 'containerd.sock');
  const config = join(dir, 'config.toml');
  writeFileSync(
    config,
    [
      'version = 2',
      `root = "${join(dir, 'root')}"`,
      `state = "${join(dir, 'state')}"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${socket}"`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('containerd', ['--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => (log = (log + chunk).slice(-20_000)));
  const ctr = (args: string[]) => run('ctr', ['-a', socket, ...args], { allowFailure: true, timeout: 120_000 });
  for (let attempt = 0; ; attempt++) {
    if (child.exitCode !== null) throw new Error(`containerd exited (${child.exitCode}):\n${log}`);
    if (existsSync(socket) && (await ctr(['version'])).code === 0) break;
    if (attempt > 100) throw new Error(`containerd did not start:\n${log}`);
    await sleep(100);
  }
  return {
    socket,
    ctr,
    pull: (reference, hostsDir) =>
      ctr(['images', 'pull', '--snapshotter', 'native', '--hosts-dir', hostsDir, '--plain-http', reference]),
    async close() {
      if (child.exitCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
