/**
 * Runs the `berth` command line two ways. `berthCli` starts it as a separate process (through
 * tsx, from the sources), the way a script would: arguments, environment, standard input; it
 * tests the real entry point. `berthInProcess` runs the same registry commands inside the test
 * process, with the entry point's exit-code mapping, capturing what they write: a process started through
 * tsx compiles the sources it loads, too slow for dozens of invocations per file. Each suite passes its own DOCKER_CONFIG so no test touches ~/.docker.
 */
import { spawn } from 'node:child_process';
import { Command, CommanderError } from 'commander';
import { CLIENT_COMMANDS } from '../../src/cli/client-commands.js';
import { io } from '../../src/cli/common.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI_ENTRY = join(REPO_ROOT, 'src', 'cli', 'main.ts');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json<T = any>(): T;
}

export interface CliOptions {
  env?: Record<string, string | undefined>;
  input?: string;
  /** Milliseconds before the process is killed (default 60 s). */
  timeout?: number;
}

/** The command that runs the CLI, for tools that take a command line (script, skopeo helpers). */
export function cliCommand(): string[] {
  return [process.execPath, '--import', 'tsx', CLI_ENTRY];
}

export function berthCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const [command, ...prefix] = cliCommand();
  return new Promise((resolve, reject) => {
    const child = spawn(command!, [...prefix, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeout ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal) {
        reject(new Error(`berth ${args.join(' ')} was killed (${signal})\nstderr: ${stderr}`));
        return;
      }
      resolve({
        code: code ?? -1,
        stdout,
        stderr,
        json: () => {
          try {
            return JSON.parse(stdout);
          } catch {
            throw new Error(`berth ${args.join(' ')}: stdout is not JSON:\n${stdout}\nstderr: ${stderr}`);
          }
        },
      });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Fails with both outputs when the exit code is not the expected one. */
export function expectCode(result: CliResult, code: number, what: string): CliResult {
  if (result.code !== code) {
    throw new Error(
      `${what}: exit ${result.code}, expected ${code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`,
    );
  }
  return result;
}

let inProcessBusy = false;

/**
 * Runs registry commands in this process: stdout and stderr are captured, `env` is applied for the
 * duration, the exit code is what `berth` would exit with. One at a time (it swaps globals).
 */
export async function berthInProcess(
  args: string[],
  options: { env?: Record<string, string | undefined>; commands?: Array<(program: Command) => void> } = {},
): Promise<CliResult> {
  if (inProcessBusy) throw new Error('berthInProcess: one invocation at a time');
  inProcessBusy = true;
  const saved = { out: io.out, err: io.err, exitCode: process.exitCode };
  const savedEnv: Record<string, string | undefined> = {};
  let stdout = '';
  let stderr = '';
  const text = (chunk: string | Uint8Array) =>
    typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
  for (const [key, value] of Object.entries(options.env ?? {})) {
    savedEnv[key] = process.env[key];
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  // The test runner reports through process.stdout: the commands' sinks are swapped, not it.
  io.out = (chunk) => {
    stdout += text(chunk);
  };
  io.err = (chunk) => {
    stderr += text(chunk);
  };
  process.exitCode = undefined;
  let code: number;
  try {
    const program = new Command('berth')
      .showHelpAfterError()
      .exitOverride()
      .configureOutput({ writeOut: (chunk) => io.out(chunk), writeErr: (chunk) => io.err(chunk) });
    for (const register of [...CLIENT_COMMANDS, ...(options.commands ?? [])]) register(program);
    await program.parseAsync(args, { from: 'user' });
    code = typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    // As src/cli/main.ts maps them.
    if (error instanceof CommanderError) code = error.exitCode === 0 ? 0 : 2;
    else {
      stderr += `berth: ${error instanceof Error ? error.message : String(error)}\n`;
      code = 1;
    }
  } finally {
    io.out = saved.out;
    io.err = saved.err;
    process.exitCode = saved.exitCode;
    for (const [key, value] of Object.entries(savedEnv)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    inProcessBusy = false;
  }
  return {
    code,
    stdout,
    stderr,
    json: () => {
      try {
        return JSON.parse(stdout);
      } catch {
        throw new Error(`berth ${args.join(' ')}: stdout is not JSON:\n${stdout}\nstderr: ${stderr}`);
      }
    },
  };
}
