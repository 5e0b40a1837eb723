/**
 * External tools for interop tests (skopeo, podman, docker-registry, python3 with requests,
 * umoci, curl): finding them, skipping loudly when one is missing, and running them with a bound
 * on time. Under CI=true a missing tool fails the tests instead of skipping them, because CI
 * installs every one of them (.ci/run).
 */
import { execFile, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { relative } from 'node:path';
import { before, describe, it, type SuiteFn } from 'node:test';

export interface Tool {
  name: string;
  /** The Debian package that provides it, for the skip message. */
  debianPackage: string;
  available: boolean;
  /** Why it is not available (empty when it is). */
  reason: string;
}

const IN_CI = process.env.CI === 'true';

/** A tool is available when `probe` runs and exits 0 (within 30 s). */
export function findTool(name: string, debianPackage: string, probe: string[]): Tool {
  const [command, ...args] = probe;
  const result = spawnSync(command!, args, { encoding: 'utf8', timeout: 30_000 });
  if (result.error) return { name, debianPackage, available: false, reason: `${command}: ${result.error.message}` };
  if (result.status !== 0) {
    const output = `${result.stderr ?? ''}${result.stdout ?? ''}`.trim().split('\n').slice(-5).join(' | ');
    return {
      name,
      debianPackage,
      available: false,
      reason: `\`${probe.join(' ')}\` exited ${result.status}: ${output}`,
    };
  }
  return { name, debianPackage, available: true, reason: '' };
}

export const tools = {
  skopeo: () => findTool('skopeo', 'skopeo', ['skopeo', '--version']),
  distribution: () => findTool('docker-registry', 'docker-registry', ['docker-registry', '--version']),
  python: () => findTool('python3 + requests', 'python3-requests', ['python3', '-c', 'import requests']),
  podman: () => findTool('podman', 'podman', ['podman', '--version']),
  umoci: () => findTool('umoci', 'umoci', ['umoci', '--version']),
  curl: () => findTool('curl', 'curl', ['curl', '--version']),
  bash: () => findTool('bash', 'bash', ['bash', '--version']),
  promtool: () => findTool('promtool', 'prometheus', ['promtool', '--version']),
  prometheus: () => findTool('prometheus', 'prometheus', ['prometheus', '--version']),
};

function banner(lines: string[]): void {
  const rule = '!'.repeat(100);
  console.error(['', rule, ...lines.map((line) => `!! ${line}`), rule, ''].join('\n'));
}

/**
 * A suite that needs external tools. When one is missing it is skipped with a loud message, or,
 * under CI=true, run anyway with a `before` hook that fails every test naming what is missing.
 */
export function describeWithTools(name: string, needed: Tool[], fn: SuiteFn): void {
  const missing = needed.filter((tool) => !tool.available);
  const explain = missing.map((tool) => `${tool.name} (Debian package ${tool.debianPackage}): ${tool.reason}`);
  if (missing.length > 0 && !IN_CI) {
    const message = `interop suite "${name}" SKIPPED: missing ${explain.join('; ')}`;
    banner([message, 'Install the packages (see .ci/run) to run it; under CI=true it fails instead.']);
    describeUnless(message, name, fn);
    return;
  }
  describe(name, (context) => {
    if (missing.length > 0) {
      before(() => {
        throw new Error(`CI=true requires: ${explain.join('; ')}`);
      });
    }
    return fn(context);
  });
}

/**
 * The suite `name`, or, when `skip` gives a reason it cannot run, one skipped test of that name in
 * its place. node:test counts a skipped suite among the suites and not under `skipped`, so a
 * suite skipped with `describe(name, { skip })` would leave `# skipped 0`. The test is reported
 * as defined here, so the reason names the test file (each file runs in its own process).
 */
export function describeUnless(skip: string | false | undefined, name: string, fn: SuiteFn): void {
  if (!skip) {
    describe(name, fn);
    return;
  }
  const file = relative(process.cwd(), process.argv[1] ?? '');
  it(name, { skip: `${skip} (the whole suite, in ${file})` }, () => undefined);
}

/** Prints a loud message for a skip that must be noticed (a tool present but unable to run here). */
export function loudSkipMessage(lines: string[]): void {
  banner(lines);
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Milliseconds before the process is killed; the run then fails. Default 120 s. */
  timeout?: number;
  /** Resolve with the result on a non-zero exit instead of rejecting. */
  allowFailure?: boolean;
}

/** Runs a command to completion and collects its output; rejects on a non-zero exit unless allowed. */
export function run(command: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      {
        env: options.env ?? process.env,
        cwd: options.cwd,
        timeout: options.timeout ?? 120_000,
        killSignal: 'SIGKILL',
        maxBuffer: 64 * 1024 * 1024,
        encoding: 'utf8',
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        const result = { code, stdout, stderr };
        if (error && (!options.allowFailure || error.killed)) {
          const why = error.killed ? `killed after ${options.timeout ?? 120_000} ms` : `exit ${String(error.code)}`;
          reject(
            new Error(`${command} ${args.join(' ')}: ${why}\nstderr: ${stderr}\nstdout: ${stdout.slice(0, 4000)}`),
          );
          return;
        }
        resolve(result);
      },
    );
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for servers that need a port up front). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
