/**
 * Start-up time of the `berth` command: `--help`, `--version` and a few commands' own help (which
 * loads that command's code), against `node -e 0`, the floor any Node.js program pays. Commands
 * run alternately, one after another in each round, so a noisy neighbour slows all alike; the
 * table gives min/median/max over the rounds and each median's ratio to `node -e 0`.
 *
 *   npm run build && node --import tsx bench/cli-start.ts [--rounds 20] [--entry dist/cli/main.js]
 *
 * `--entry` may name another build of the command (an older checkout's dist/cli/main.js) to compare.
 */
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from './stats.js';

const checkout = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '20' },
    entry: { type: 'string', default: resolve(checkout, 'dist/cli/main.js') },
  },
});
const entry = resolve(args.entry);
const rounds = Number(args.rounds);

const cases: Array<{ label: string; argv: string[] }> = [
  { label: 'node -e 0', argv: ['-e', '0'] },
  { label: 'berth --help', argv: [entry, '--help'] },
  { label: 'berth --version', argv: [entry, '--version'] },
  { label: 'berth htpasswd --help', argv: [entry, 'htpasswd', '--help'] },
  { label: 'berth login --help', argv: [entry, 'login', '--help'] },
  { label: 'berth tags --help', argv: [entry, 'tags', '--help'] },
  { label: 'berth serve --help', argv: [entry, 'serve', '--help'] },
];

const failed = new Set<string>();

function timeOnce(argv: string[]): number {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  // An older build may not know an option (--version): it is timed all the same, and said.
  if (result.status !== 0) failed.add(argv.join(' '));
  return ms;
}

const samples = new Map<string, number[]>(cases.map((each) => [each.label, []]));
for (const each of cases) timeOnce(each.argv); // warm the page cache
for (let round = 0; round < rounds; round++) {
  // Alternate the order, so no case always runs right after the same other one.
  const order = round % 2 === 0 ? cases : [...cases].reverse();
  for (const each of order) samples.get(each.label)!.push(timeOnce(each.argv));
}

const floor = median(samples.get('node -e 0')!);
console.log(`entry: ${entry}; ${rounds} rounds; Node.js ${process.version}`);
console.log('| command | min ms | median ms | max ms | median / node -e 0 |');
console.log('| --- | ---: | ---: | ---: | ---: |');
for (const each of cases) {
  const values = samples.get(each.label)!;
  const cells = [Math.min(...values), median(values), Math.max(...values)].map((value) => value.toFixed(0));
  const note = failed.has(each.argv.join(' ')) ? ' (exits non-zero)' : '';
  console.log(`| ${each.label}${note} | ${cells.join(' | ')} | ${(median(values) / floor).toFixed(2)} |`);
}
