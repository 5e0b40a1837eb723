/**
 * Berth as a separate process, as operators run it: `berth serve [config.yml]` through the CLI,
 * its stdout read line by line (JSON log lines), stderr kept for error messages. Every wait is
 * bounded so a hung process fails the test instead of hanging the suite.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BOUND_MS = 20_000;

export type LogLine = Record<string, unknown>;

export interface BerthProcess {
  child: ChildProcess;
  /** Every stdout line so far, parsed when it is JSON (else `{ text }`). */
  lines: LogLine[];
  /** Raw stdout lines, to check that each one is JSON. */
  rawLines: string[];
  stderr(): string;
  /** Resolves with the first line (already seen or still to come) the predicate accepts. */
  waitForLine(predicate: (line: LogLine) => boolean, what: string): Promise<LogLine>;
  /** Resolves once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Base URL once listening (from fastify's "Server listening at …" line). */
  url?: string;
  kill(signal?: NodeJS.Signals): void;
}

function newestMtime(folder: string): number {
  let newest = 0;
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const full = join(folder, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs);
  }
  return newest;
}

/** `node dist/cli/main.js` (what `npm start` runs) when the build is there and newer than src/. */
export function builtCliIsFresh(): boolean {
  const built = join(REPO_ROOT, 'dist', 'cli', 'main.js');
  return existsSync(built) && statSync(built).mtimeMs >= newestMtime(join(REPO_ROOT, 'src'));
}

export interface SpawnOptions {
  /** Arguments after `berth`, for example ['serve', 'config.yml']. */
  args: string[];
  env?: Record<string, string>;
  /** Run the built CLI (dist/) as `npm start` does, instead of the sources through tsx. */
  built?: boolean;
  /** Start it with `npm start` itself (npm, then the built CLI); `args` are then not used. */
  npmStart?: boolean;
  /** Node options before the entry point (for example `--import` of a module-loading probe). */
  nodeOptions?: string[];
  /** Run as this user and group (a test running as root that needs permissions to apply). */
  uid?: number;
  gid?: number;
}

export function spawnBerth(options: SpawnOptions): BerthProcess {
  const entry = options.built ? ['dist/cli/main.js'] : ['--import', 'tsx', 'src/cli/main.ts'];
  // The child sees only the REGISTRY_ variables a test sets, not the ones of the shell running it.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('REGISTRY_')));
  const [command, args] = options.npmStart
    ? ['npm', ['start', '--silent']]
    : [process.execPath, [...(options.nodeOptions ?? []), ...entry, ...options.args]];
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    env: { ...env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    uid: options.uid,
    gid: options.gid,
  });
  const lines: LogLine[] = [];
  const rawLines: string[] = [];
  const waiters: Array<{ predicate: (line: LogLine) => boolean; resolve: (line: LogLine) => void }> = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) =>
    child.on('exit', (code, signal) => resolveExit({ code, signal })),
  );
  const handle: BerthProcess = {
    child,
    lines,
    rawLines,
    stderr: () => stderr,
    exited,
    kill: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    waitForLine(predicate, what) {
      const seen = lines.find(predicate);
      if (seen) return Promise.resolve(seen);
      return new Promise<LogLine>((resolveLine, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `no log line "${what}" within ${BOUND_MS} ms; stdout:\n${rawLines.join('\n')}\nstderr:\n${stderr}`,
              ),
            ),
          BOUND_MS,
        );
        void exited.then(({ code }) =>
          setImmediate(() => {
            clearTimeout(timer);
            reject(
              new Error(`berth exited (${code}) before "${what}"; stdout:\n${rawLines.join('\n')}\nstderr:\n${stderr}`),
            );
          }),
        );
        waiters.push({
          predicate,
          resolve: (line) => {
            clearTimeout(timer);
            resolveLine(line);
          },
        });
      });
    },
  };
  createInterface({ input: child.stdout! }).on('line', (text) => {
    rawLines.push(text);
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { text };
    }
    lines.push(line);
    const listening = typeof line.msg === 'string' && /^Server listening at (\S+)/.exec(line.msg);
    if (listening && !handle.url) handle.url = listening[1];
    for (const waiter of [...waiters]) {
      if (waiter.predicate(line)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  return handle;
}

/** Spawns `berth serve` and waits until it listens; returns the process with its `url` set. */
export async function serveBerth(options: SpawnOptions): Promise<BerthProcess & { url: string }> {
  const berth = spawnBerth(options);
  await berth.waitForLine(
    (line) => typeof line.msg === 'string' && line.msg.startsWith('Server listening at'),
    'Server listening at',
  );
  return berth as BerthProcess & { url: string };
}

/** Waits for the process to exit, at most the bound; kills it if it has not. */
export async function waitForExit(
  berth: BerthProcess,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      berth.kill('SIGKILL');
      reject(
        new Error(
          `berth did not exit within ${BOUND_MS} ms; stdout:\n${berth.rawLines.join('\n')}\nstderr:\n${berth.stderr()}`,
        ),
      );
    }, BOUND_MS);
  });
  try {
    return await Promise.race([berth.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
