/**
 * Authentication and access control, wired into the HTTP server: the guard that runs before
 * every request, and the built-in token server's routes. Nothing is installed when the
 * configuration turns no auth on (the default). See docs/auth.md.
 */
import { apiPrefix } from '../api/routes.js';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { createGuard } from './guard.js';
import { createAuthSetup, type AuthSetup } from './settings.js';
import { registerTokenServer } from './token/server.js';

export { repositoryFilter } from './caller.js';

export function installAuth(app: FastifyInstance, config: Config, log: Logger): AuthSetup | undefined {
  const setup = createAuthSetup(config, log);
  if (!setup) return undefined;
  const prefix = apiPrefix(config.http.prefix);
  if (setup.scheme) app.addHook('onRequest', createGuard(setup, prefix, log));
  if (setup.tokenServer && setup.users && setup.policy) {
    registerTokenServer(app, { server: setup.tokenServer, users: setup.users, policy: setup.policy });
  }
  return setup;
}
