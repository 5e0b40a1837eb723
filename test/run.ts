/**
 * The test run of `npm test`: every test/<area>/<name>.test.ts through node:test, each file in
 * its own process, reported by the spec reporter, and closed by one summary over everything
 * (test/runner/summary.ts): the totals, then every test and suite that did not run and why.
 *
 *   node --import tsx test/run.ts [--concurrency N] [--times FILE] [FILE…]
 *
 * Files run several at once (`--concurrency`, default 4: most of a file's time is spent waiting
 * on servers, tools and sockets, not on a core), the longest first. Each test takes its own port
 * and temporary folder, so files do not see each other. The few files in SERIAL run afterwards,
 * one at a time: they load the machine on purpose, bound how long the event loop may stall, or
 * must get a minimum of work done within a bound in time; next to other files they would slow
 * everything or fail for a neighbour's work.
 *
 * Given FILEs, only those run (each in its pass). `--times FILE` writes how long each file took
 * (bench/test-times.ts prints and compares such files). The exit code is 1 when anything failed.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { parseArgs } from 'node:util';
import { RunSummary } from './runner/summary.js';

/** Files that run alone, after the others. */
const SERIAL = new Set([
  // Asserts an upper bound on event-loop stalls while walking a large tree.
  'test/faults/event-loop.test.ts',
  // Drives a server at full speed with autocannon and compares its memory before and after.
  'test/hardening/soak.test.ts',
  // Storms of pushes and collections that must get a minimum of work done within a bound in time.
  'test/gc/concurrency.test.ts',
  'test/gc/multiarch-referrers.test.ts',
]);

/**
 * The longest files, started first so that the run does not end waiting on one of them alone
 * (the rest follow in name order). Ordering only: every file runs either way.
 */
const START_FIRST = [
  'test/s3/multi-instance.test.ts',
  'test/ui/browser.test.ts',
  'test/s3/notifications-failover.test.ts',
  'test/faults/gc-dead-run.test.ts',
  'test/s3/driver.test.ts',
  'test/hardening/properties.test.ts',
  'test/gc/cli.test.ts',
  'test/s3/skopeo.test.ts',
  'test/s3/contract.test.ts',
  'test/s3/registry.test.ts',
];

const DEFAULT_CONCURRENCY = 4;

const { values: options, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    concurrency: { type: 'string', default: String(DEFAULT_CONCURRENCY) },
    times: { type: 'string' },
  },
});
const concurrency = Number(options.concurrency);
if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error('--concurrency takes a whole number ≥ 1');

const checkout = resolve(import.meta.dirname, '..');

function allTestFiles(): string[] {
  const files: string[] = [];
  for (const area of readdirSync(join(checkout, 'test'), { withFileTypes: true })) {
    if (!area.isDirectory()) continue;
    for (const name of readdirSync(join(checkout, 'test', area.name)))
      if (name.endsWith('.test.ts')) files.push(`test/${area.name}/${name}`);
  }
  const first = START_FIRST.filter((file) => files.includes(file));
  return [...first, ...files.filter((file) => !first.includes(file)).sort()];
}

const wanted = positionals.length > 0 ? positionals.map((file) => relative(checkout, resolve(file))) : allTestFiles();
const passes = [
  { files: wanted.filter((file) => !SERIAL.has(file)), concurrency },
  { files: wanted.filter((file) => SERIAL.has(file)), concurrency: 1 },
].filter((pass) => pass.files.length > 0);

const summary = new RunSummary();
for (const pass of passes) {
  const stream = run({ files: pass.files.map((file) => join(checkout, file)), concurrency: pass.concurrency });
  summary.listen(stream);
  for await (const chunk of stream.compose(new spec())) process.stdout.write(chunk as string);
}
process.stdout.write(`\n${summary.lines().join('\n')}\n`);
if (options.times) {
  writeFileSync(options.times, `${JSON.stringify(summary.record(concurrency), null, 2)}\n`);
  process.stdout.write(`per-file times: ${options.times}\n`);
}
if (summary.failed) process.exitCode = 1;
