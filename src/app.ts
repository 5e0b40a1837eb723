/** Assembles a Berth server from a configuration: logger, storage driver, registry, HTTP. */
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from './config/schema.js';
import { buildServer, parseListenAddress } from './http/server.js';
import { createLogger } from './logging.js';
import { Registry } from './registry/registry.js';
import { createDriver } from './storage/factory.js';

export interface Berth {
  app: FastifyInstance;
  registry: Registry;
  logger: Logger;
  config: Config;
  /** Starts listening on `http.addr` (or the given port); resolves to the bound address. */
  listen(override?: { host?: string; port?: number }): Promise<{ host: string; port: number }>;
  close(): Promise<void>;
}

export function createBerth(config: Config, logger?: Logger): Berth {
  const log = logger ?? createLogger(config.loglevel ?? config.log.level, config.log.fields);
  if (config.storage.filesystem) {
    config.storage.filesystem.rootdirectory = resolve(config.storage.filesystem.rootdirectory);
  }
  const registry = new Registry(createDriver(config.storage));
  const app = buildServer({ config, registry, logger: log });
  return {
    app,
    registry,
    logger: log,
    config,
    async listen(override) {
      const configured = parseListenAddress(config.http.addr);
      await registry.driver.ping();
      await app.listen({ host: override?.host ?? configured.host, port: override?.port ?? configured.port });
      const address = app.server.address();
      if (address === null || typeof address === 'string') return { host: configured.host, port: configured.port };
      return { host: address.address, port: address.port };
    },
    close: () => app.close(),
  };
}
