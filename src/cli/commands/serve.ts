/** `berth serve [config.yml]`: runs the registry until SIGTERM/SIGINT, then closes gracefully. */
import type { Command } from 'commander';
import { createBerth } from '../../app.js';
import { loadConfig } from '../../config/load.js';

/** How long in-flight requests may take to finish after a stop signal. */
const DEFAULT_DRAIN_MS = 30_000;

export async function serve(configPath: string | undefined): Promise<void> {
  const { config, warnings, source, overrides } = loadConfig(configPath);
  const berth = createBerth(config);
  for (const warning of warnings) berth.logger.warn(warning);
  // Names only: override values may be secrets.
  if (overrides.length > 0) berth.logger.info({ keys: overrides }, 'configuration overridden by REGISTRY_ environment variables');
  const address = await berth.listen();
  const scheme = config.http.tls?.certificate ? 'https' : 'http';
  const where =
    config.http.net === 'unix'
      ? `unix:${address.host}`
      : `${scheme}://${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}${config.http.prefix}`;
  berth.logger.info(
    { config: source, storage: config.storage.filesystem?.rootdirectory, address: where },
    'berth is serving the registry API',
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    berth.logger.info({ signal }, 'stopping: finishing in-flight requests');
    const drain = config.http.draintimeout ?? DEFAULT_DRAIN_MS;
    const timer = setTimeout(() => {
      berth.logger.warn('in-flight requests did not finish in time; exiting');
      process.exit(1);
    }, drain);
    timer.unref();
    berth.close().then(
      () => process.exit(0),
      (error: unknown) => {
        berth.logger.error({ err: error }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the registry (without a file: the built-in default configuration)')
    .argument('[config]', "Distribution-format config.yml; REGISTRY_… environment variables override it")
    .action((config: string | undefined) => serve(config));
}
