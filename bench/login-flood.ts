/**
 * An authorised request's latency while 50 clients send wrong passwords (docs/performance.md).
 *
 * Berth runs with HTTP Basic against an htpasswd file (bcrypt cost 10, what `berth htpasswd`
 * writes). 50 clients on keep-alive connections send `GET /v2/` with a wrong password, one after
 * another, as fast as they are answered; meanwhile an authorised client starts a `GET /v2/` with
 * the right password (checked once, then remembered) every 50 ms, from another loopback address,
 * and the latency of each is recorded. Two setups:
 *
 *   default      no rate-limit settings: what Berth does out of the box
 *   no-budget    berth.ratelimit.failedlogins: unlimited, so every wrong password is checked
 *
 * Each checkout given runs every setup once per round, in alternating order, for several rounds;
 * the table gives min / median / max over the rounds of each figure. Everything runs on loopback
 * and stops by itself: each measurement lasts `--seconds`, a probe waits at most 30 s.
 *
 *   node --import tsx bench/login-flood.ts                                 this checkout
 *   node --import tsx bench/login-flood.ts --before /path/to/old/checkout  old and new, alternating
 *   options: --rounds 3 --seconds 10 --clients 50 --out results.json
 *
 * A checkout is run from its sources (src/cli/main.ts through tsx), so it needs no build; it
 * needs its dependencies installed (a node_modules folder or a link to one).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import bcrypt from 'bcryptjs';
import { configYaml, freePort, watchExit } from './servers.js';
import { formatNumber, median } from './stats.js';

const here = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const { values: args } = parseArgs({
  options: {
    before: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '10' },
    clients: { type: 'string', default: '50' },
    out: { type: 'string' },
  },
});

const ROUNDS = Number(args.rounds);
const SECONDS = Number(args.seconds);
const CLIENTS = Number(args.clients);
const PROBE_TIMEOUT_MS = 30_000;
/** One authorised request every this many milliseconds. */
const PROBE_INTERVAL_MS = 50;
const PASSWORD = 'the-right-password';
/**
 * The authorised client connects from another loopback address than the flood: once an address
 * has spent its failed-login budget every login from it is refused, the right password too, so
 * a probe from the flood's own address would measure that refusal.
 */
const PROBE_ADDRESS = '127.0.0.2';

const SETUPS = {
  default: '',
  'no-budget': '  ratelimit:\n    failedlogins: unlimited\n',
} as const;
type Setup = keyof typeof SETUPS;

interface Checkout {
  label: string;
  path: string;
}

interface Sample {
  probeP50: number;
  probeP99: number;
  probes: number;
  /** Probes that got no answer within PROBE_TIMEOUT_MS (counted at that time). */
  probeTimeouts: number;
  /** Wrong passwords answered 401 per second: checked with bcrypt. */
  checkedPerSecond: number;
  /** Wrong passwords answered 429 per second: refused without a check. */
  refusedPerSecond: number;
}

function log(message: string): void {
  process.stderr.write(`[login-flood ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** One GET on a keep-alive agent; resolves with the status, or 0 when no answer came in time. */
function get(
  url: string,
  agent: http.Agent,
  authorization: string,
  timeoutMs: number,
  localAddress?: string,
): Promise<number> {
  return new Promise((done) => {
    const request = http.get(url, { agent, localAddress, headers: { Authorization: authorization } }, (response) => {
      response.resume();
      response.on('end', () => done(response.statusCode ?? 0));
      response.on('error', () => done(0));
    });
    request.setTimeout(timeoutMs, () => request.destroy());
    request.on('error', () => done(0));
  });
}

async function startBerth(
  checkout: Checkout,
  setup: Setup,
  work: string,
  htpasswd: string,
): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const root = join(work, `data-${checkout.label}-${setup}`);
  const config = join(work, `${checkout.label}-${setup}.yml`);
  const users = `auth:\n  htpasswd:\n    realm: bench\n    path: ${htpasswd}\nberth:\n  workers: 1\n${SETUPS[setup]}`;
  writeFileSync(config, configYaml(root, port, users));
  const logPath = join(work, `${checkout.label}-${setup}.log`);
  const output = openSync(logPath, 'a');
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', import.meta.resolve('tsx'), join(checkout.path, 'src/cli/main.ts'), 'serve', config],
    {
      stdio: ['ignore', output, output],
      cwd: work,
    },
  );
  const running = watchExit(child);
  const url = `http://127.0.0.1:${port}/v2/`;
  const agent = new http.Agent({ keepAlive: false });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (running.exited())
      throw new Error(
        `${checkout.label} exited during start; see ${logPath}:\n${readFileSync(logPath, 'utf8').slice(-2000)}`,
      );
    if ((await get(url, agent, basic('bench', PASSWORD), 2000, PROBE_ADDRESS)) === 200) break;
    if (Date.now() > deadline) throw new Error(`${checkout.label} did not answer within 30 s; see ${logPath}`);
    await new Promise((done) => setTimeout(done, 200));
  }
  return { url, stop: running.stop };
}

/** The flood and the probe, for SECONDS. */
async function measure(url: string): Promise<Sample> {
  const until = Date.now() + SECONDS * 1000;
  const floodAgent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  const probeAgent = new http.Agent({ keepAlive: true });
  let checked = 0;
  let refused = 0;
  const flood = Array.from({ length: CLIENTS }, async (_, client) => {
    for (let attempt = 0; Date.now() < until; attempt += 1) {
      const status = await get(url, floodAgent, basic('bench', `wrong-${client}-${attempt}`), PROBE_TIMEOUT_MS);
      if (status === 401) checked += 1;
      else if (status === 429) refused += 1;
    }
  });
  // Let the flood build up before the first probe.
  await new Promise((done) => setTimeout(done, 500));
  // Probes start on a fixed schedule, whether or not the previous one has been answered, so a
  // server that stalls shows every probe it stalled rather than the one that was waiting.
  const probes: Array<Promise<{ status: number; ms: number }>> = [];
  while (Date.now() < until) {
    probes.push(
      (async () => {
        const started = process.hrtime.bigint();
        const status = await get(url, probeAgent, basic('bench', PASSWORD), PROBE_TIMEOUT_MS, PROBE_ADDRESS);
        return { status, ms: Number(process.hrtime.bigint() - started) / 1e6 };
      })(),
    );
    await new Promise((done) => setTimeout(done, PROBE_INTERVAL_MS));
  }
  const answers = await Promise.all(probes);
  const refusedProbe = answers.find((answer) => answer.status !== 0 && answer.status !== 200);
  if (refusedProbe) throw new Error(`the authorised request got ${refusedProbe.status}`);
  const timeouts = answers.filter((answer) => answer.status === 0).length;
  const latencies = answers.map((answer) => (answer.status === 0 ? PROBE_TIMEOUT_MS : answer.ms));
  await Promise.all(flood);
  floodAgent.destroy();
  probeAgent.destroy();
  return {
    probeP50: percentile(latencies, 50),
    probeP99: percentile(latencies, 99),
    probes: latencies.length,
    probeTimeouts: timeouts,
    checkedPerSecond: checked / SECONDS,
    refusedPerSecond: refused / SECONDS,
  };
}

function spread(values: number[]): string {
  const min = Math.min(...values);
  const max = Math.max(...values);
  return `${formatNumber(min)} / ${formatNumber(median(values))} / ${formatNumber(max)}`;
}

async function main(): Promise<void> {
  const checkouts: Checkout[] = [
    ...(args.before ? [{ label: 'before', path: resolve(args.before) }] : []),
    { label: 'after', path: here },
  ];
  const work = mkdtempSync(join(tmpdir(), 'berth-login-flood-'));
  const htpasswd = join(work, 'htpasswd');
  writeFileSync(htpasswd, `bench:${bcrypt.hashSync(PASSWORD, 10)}\n`);
  const samples = new Map<string, Sample[]>();
  const runs = checkouts.flatMap((checkout) => (Object.keys(SETUPS) as Setup[]).map((setup) => ({ checkout, setup })));
  try {
    for (let round = 0; round < ROUNDS; round += 1) {
      const order = round % 2 === 0 ? runs : [...runs].reverse();
      for (const { checkout, setup } of order) {
        const server = await startBerth(checkout, setup, work, htpasswd);
        try {
          const sample = await measure(server.url);
          const key = `${checkout.label} ${setup}`;
          samples.set(key, [...(samples.get(key) ?? []), sample]);
          log(
            `round ${round + 1} ${key}: probe p50 ${formatNumber(sample.probeP50)} ms, p99 ${formatNumber(sample.probeP99)} ms ` +
              `(${sample.probes} probes, ${sample.probeTimeouts} timed out); wrong passwords checked ${formatNumber(sample.checkedPerSecond)}/s, ` +
              `refused ${formatNumber(sample.refusedPerSecond)}/s`,
          );
        } finally {
          await server.stop();
        }
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const lines = [
    `${CLIENTS} clients sending wrong passwords for ${SECONDS} s, an authorised GET every ${PROBE_INTERVAL_MS} ms, ${ROUNDS} rounds; each cell min / median / max over the rounds`,
    '',
    '| code | setup | authorised GET p50 (ms) | p99 (ms) | of those, unanswered in 30 s | wrong passwords checked (/s) | refused 429 (/s) |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const [key, list] of samples) {
    const [label, setup] = key.split(' ');
    lines.push(
      `| ${label} | ${setup} | ${spread(list.map((s) => s.probeP50))} | ${spread(list.map((s) => s.probeP99))} | ${spread(list.map((s) => s.probeTimeouts))} of ${Math.round(median(list.map((s) => s.probes)))} | ` +
        `${spread(list.map((s) => s.checkedPerSecond))} | ${spread(list.map((s) => s.refusedPerSecond))} |`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  if (args.out) writeFileSync(args.out, JSON.stringify(Object.fromEntries(samples), null, 2));
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
