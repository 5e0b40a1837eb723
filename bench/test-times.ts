/**
 * How long each test file takes, from the files `node --import tsx test/run.ts --times FILE`
 * writes: one file gives a table of its files, slowest first; two give both columns side by side
 * with the ratio, for a before/after comparison. Each file's time is the wall time of its own
 * process (start-up included); files that ran at once overlap, so the column sums to more than
 * the run's wall time, which is given below the table with the load averages around the run.
 *
 *   node --import tsx test/run.ts --concurrency 1 --times /tmp/before.json
 *   node --import tsx test/run.ts --times /tmp/after.json
 *   node --import tsx bench/test-times.ts /tmp/before.json [/tmp/after.json]
 */
import { readFileSync } from 'node:fs';
import type { TimesRecord } from '../test/runner/summary.js';

// Piped into `head`: stop quietly when the reader has seen enough.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(0);
});

const paths = process.argv.slice(2);
if (paths.length < 1 || paths.length > 2) {
  console.error('usage: node --import tsx bench/test-times.ts TIMES.json [OTHER-TIMES.json]');
  process.exit(2);
}
const records = paths.map((path) => JSON.parse(readFileSync(path, 'utf8')) as TimesRecord);
const seconds = (ms: number | undefined) => (ms === undefined ? '–' : (ms / 1000).toFixed(1));

const byFile = records.map((record) => new Map(record.files.map((entry) => [entry.file, entry])));
const files = [...new Set(records.flatMap((record) => record.files.map((entry) => entry.file)))].sort(
  (a, b) => (byFile[0]!.get(b)?.ms ?? 0) - (byFile[0]!.get(a)?.ms ?? 0),
);

const heads = records.length === 1 ? ['s'] : ['before s', 'after s', 'after / before'];
console.log(`| file | ${heads.join(' | ')} |`);
console.log(`| --- | ${heads.map(() => '---:').join(' | ')} |`);
for (const file of files) {
  const times = byFile.map((map) => map.get(file));
  const cells = times.map((entry) => `${seconds(entry?.ms)}${entry && !entry.passed ? ' (failed)' : ''}`);
  const [first, second] = times;
  if (first && second) cells.push((second.ms / first.ms).toFixed(2));
  else if (records.length === 2) cells.push('–');
  console.log(`| ${file} | ${cells.join(' | ')} |`);
}
console.log();
for (const [index, record] of records.entries()) {
  const sum = record.files.reduce((total, entry) => total + entry.ms, 0);
  const load = (values: number[]) => values.map((value) => value.toFixed(2)).join(' ');
  console.log(
    `${paths[index]}: wall ${seconds(record.wallMs)} s at concurrency ${record.concurrency} (files summed: ${seconds(sum)} s); ` +
      `load ${load(record.loadAtStart)} at the start, ${load(record.loadAtEnd)} at the end; ` +
      `${record.totals.tests} tests, ${record.totals.skipped} skipped, ${record.totals.fail} failed`,
  );
}
