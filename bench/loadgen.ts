/**
 * The load generator for small requests: `hey` (Debian package `hey`) in a separate process, so
 * its CPU use is its own and the server sees what a remote client would send. hey answers HEAD
 * correctly (autocannon and wrk wait for a body after a HEAD that carries Content-Length) and
 * writes every request as a CSV line, so the status of each is checked and percentiles computed
 * here.
 */
import { spawn, spawnSync } from 'node:child_process';

export interface LoadResult {
  /** Completed requests per second over the run. */
  rps: number;
  p50: number;
  p99: number;
  /** Requests that failed or answered other than 2xx: must be 0. */
  failures: number;
}

export function haveLoadGenerator(): boolean {
  return spawnSync('hey', ['-h'], { stdio: 'ignore' }).error === undefined;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export function loadTest(options: {
  url: string;
  method: string;
  headers?: string[];
  connections: number;
  seconds: number;
}): Promise<LoadResult> {
  const args = ['-z', `${options.seconds}s`, '-c', String(options.connections), '-m', options.method, '-o', 'csv'];
  for (const header of options.headers ?? []) args.push('-H', header);
  args.push(options.url);
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn('hey', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    // 'close', not 'exit': only then has all of hey's output been read.
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`hey exited ${code}: ${err.slice(-1000)}`));
      const lines = Buffer.concat(out).toString('utf8').trim().split('\n').slice(1);
      const latencies: number[] = [];
      let failures = 0;
      let lastOffset = 0;
      for (const line of lines) {
        // response-time,DNS+dialup,DNS,Request-write,Response-delay,Response-read,status-code,offset
        const fields = line.split(',');
        const status = Number(fields[6]);
        if (!(status >= 200 && status < 300)) failures++;
        latencies.push(Number(fields[0]) * 1000);
        lastOffset = Math.max(lastOffset, Number(fields[7]) + Number(fields[0]));
      }
      // Failed requests (connection errors) are not written as lines; hey reports them on stdout's summary only.
      latencies.sort((a, b) => a - b);
      const elapsed = lastOffset > 0 ? lastOffset : Number(process.hrtime.bigint() - started) / 1e9;
      resolve({
        rps: latencies.length / elapsed,
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
        failures,
      });
    });
  });
}
