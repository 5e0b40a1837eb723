/**
 * Progress bars for copies, on the terminal only: one bar per blob in flight on stderr, nothing
 * at all when stderr is not a TTY (scripts, CI, pipes) or when `--json` asked for quiet output.
 */
import cliProgress from 'cli-progress';
import type { CopyEvent } from '../client/copy.js';
import { formatBytes } from './common.js';

export interface ProgressReporter {
  onEvent(event: CopyEvent): void;
  /** Prints a line above the bars (or plainly when there are none). */
  log(line: string): void;
  stop(): void;
}

export function progressReporter(enabled: boolean): ProgressReporter {
  if (!enabled) {
    return { onEvent: () => {}, log: () => {}, stop: () => {} };
  }
  const bars = new cliProgress.MultiBar(
    {
      stream: process.stderr,
      format: ' {name} [{bar}] {percentage}% {done}/{size}',
      hideCursor: true,
      clearOnComplete: false,
      autopadding: true,
      barsize: 30,
    },
    cliProgress.Presets.shades_classic,
  );
  const active = new Map<string, cliProgress.SingleBar>();
  const short = (digest: string) => digest.replace(/^sha(256|512):/, '').slice(0, 12);
  return {
    onEvent(event) {
      switch (event.type) {
        case 'blob-start':
          active.set(
            event.digest,
            bars.create(Math.max(event.size, 1), 0, {
              name: short(event.digest),
              done: formatBytes(0),
              size: formatBytes(event.size),
            }),
          );
          break;
        case 'blob-progress':
          active.get(event.digest)?.update(event.transferred, { done: formatBytes(event.transferred) });
          break;
        case 'blob-done': {
          const bar = active.get(event.digest);
          if (bar) {
            bar.update(Math.max(event.size, 1), {
              done: event.status === 'mounted' ? 'mounted' : formatBytes(event.size),
            });
            bar.stop();
          } else {
            bars.log(` ${short(event.digest)} ${event.status === 'exists' ? 'already there' : event.status}\n`);
          }
          break;
        }
        case 'manifest':
          bars.log(` manifest ${short(event.digest)}${event.platform ? ` (${event.platform})` : ''} written\n`);
          break;
      }
    },
    log(line) {
      bars.log(`${line}\n`);
    },
    stop() {
      bars.stop();
    },
  };
}
