/**
 * The process of `berth serve [config.yml]`: runs the registry until SIGTERM/SIGINT, then closes
 * gracefully. Loaded only when the command runs (src/cli/commands/serve.ts), since it loads the
 * whole server.
 */
import { createBerth } from '../app.js';
import { loadConfig } from '../config/load.js';
import { aggregatedMetrics, answerMetricsRequests } from '../metrics/workers.js';
import { createLogger } from '../logging.js';
import {
  countsPerProcess,
  isWorker,
  joinFirstProcess,
  reportClosed,
  WORKER_ENV,
  WorkerPool,
  workerCount,
} from './workers.js';

/** How long in-flight requests may take to finish after a stop signal. */
const DEFAULT_DRAIN_MS = 30_000;

export async function serve(configPath: string | undefined): Promise<void> {
  if (isWorker()) return serveAsWorker(configPath);
  const { config, warnings, source, overrides } = loadConfig(configPath);
  const berth = createBerth(config);
  for (const warning of warnings) berth.logger.warn(warning);
  // Names only: override values may be secrets.
  if (overrides.length > 0)
    berth.logger.info({ keys: overrides }, 'configuration overridden by REGISTRY_ environment variables');
  const address = await berth.listen();
  // More processes on the same socket use the other cores (src/cli/workers.ts).
  const perProcessCounters = countsPerProcess(config);
  const workers = config.http.net === 'unix' ? 1 : workerCount(config.berth.workers, { perProcessCounters });
  if (workers > 1 && perProcessCounters) {
    berth.logger.warn(
      { workers },
      'rate-limit and upload counters are per process without redis: each caller gets its budget once per worker process',
    );
  }
  const pool = workers > 1 ? new WorkerPool(berth.app.server, workers - 1, berth.logger) : undefined;
  pool?.start();
  if (pool) berth.metrics = () => aggregatedMetrics(() => pool.processes());
  const scheme = config.http.tls?.certificate ? 'https' : 'http';
  const where =
    config.http.net === 'unix'
      ? `unix:${address.host}`
      : `${scheme}://${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}${config.http.prefix}`;
  berth.logger.info(
    {
      config: source,
      storage:
        config.storage.filesystem?.rootdirectory ??
        (config.storage.s3 && `s3://${config.storage.s3.bucket}${config.storage.s3.rootdirectory}`),
      address: where,
      workers,
    },
    'berth is serving the registry API',
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    const drain = config.http.draintimeout ?? DEFAULT_DRAIN_MS;
    const timer = setTimeout(() => {
      berth.logger.warn('in-flight requests did not finish in time; exiting');
      process.exit(1);
    }, drain);
    timer.unref();
    // Workers stop accepting first, so that once this line is written no process takes a new connection.
    const workersStopping = pool ? pool.stop() : Promise.resolve(undefined);
    const closing = berth.close();
    workersStopping
      .then(async (stopped) => {
        berth.logger.info({ signal }, 'stopping: finishing in-flight requests');
        await Promise.all([closing, stopped?.exited]);
      })
      .then(
        () => process.exit(0),
        (error: unknown) => {
          berth.logger.error({ err: error }, 'error while stopping');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  stopWhenNpmGoes(() => stop('npm exited'));
}

/**
 * Under `npm start`, `npx berth serve` or `npm exec`, npm is the supervisor: it passes SIGTERM
 * and SIGINT to the shell it started, and a shell between npm and this process dies of them
 * without passing them on. So when the parent that started this process goes away, the same
 * graceful stop runs, instead of an orphan holding the port. Only under npm (which sets
 * npm_command): a server started from a login shell keeps running when that shell exits.
 */
function stopWhenNpmGoes(stop: () => void): void {
  if (process.env.npm_command === undefined) return;
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) stop();
  }, 250).unref();
}

/**
 * A worker process: the same configuration and registry, serving on the socket the first process
 * hands over. It stops when asked, on a signal, or when the first process goes away.
 */
async function serveAsWorker(configPath: string | undefined): Promise<void> {
  const { config } = loadConfig(configPath); // the first process has reported warnings already
  // Log lines say which process wrote them.
  const berth = createBerth(
    config,
    createLogger(
      config.log.level,
      { ...config.log.fields, worker: Number(process.env[WORKER_ENV]) },
      config.log.formatter,
    ),
  );
  answerMetricsRequests();
  await berth.app.ready();
  let closing: Promise<void> | undefined;
  const stop = () => {
    if (closing) return;
    // Stop accepting at once (the socket stays open in the other processes), then drain.
    if (berth.app.server.listening) berth.app.server.close();
    reportClosed();
    const timer = setTimeout(() => process.exit(1), config.http.draintimeout ?? DEFAULT_DRAIN_MS);
    timer.unref();
    closing = berth.close().then(
      () => process.exit(0),
      (error: unknown) => {
        berth.logger.error({ err: error }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const listener = await joinFirstProcess(stop);
  if (closing) return;
  await new Promise<void>((resolve, reject) => {
    berth.app.server.once('error', reject);
    berth.app.server.listen(listener, () => resolve());
  });
}
