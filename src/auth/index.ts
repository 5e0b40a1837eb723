/**
 * Authentication and access control, as the request pipeline uses them (src/http/pipeline.ts):
 * the guard hook that runs before every request, and the built-in token service, when the
 * configuration turns them on. See docs/auth.md.
 *
 * With no auth scheme configured, the registry is open (as Distribution's is), but the
 * administrative endpoints are not: they answer only callers on this machine (loopback or a
 * Unix socket, after `berth.trustedproxies`), so garbage collection cannot be started from the
 * network.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { RegistryError } from '../api/errors.js';
import type { Config } from '../config/schema.js';
import { createGuard } from './guard.js';
import { createAuthSetup, type AuthSetup } from './settings.js';
import { createTokenService, type TokenService } from './token/server.js';

export type Guard = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

export interface AccessControl {
  /** Decides whether a request may go on; records the caller in the request state. */
  guard: Guard;
  /** Undefined when auth is off. */
  setup?: AuthSetup;
  /** The built-in token server, when Berth issues tokens itself. */
  tokens?: { path: string; service: TokenService };
}

/** The guard without auth: only the administrative tree is guarded, and only by where the caller is. */
const adminFromThisMachineOnly: Guard = async (request) => {
  if (request.berth.route.family !== 'admin' || request.berth.local || request.berth.preflight) return;
  throw new RegistryError(
    'DENIED',
    'the administrative endpoints answer only callers on this machine while auth is off (configure auth, or call from localhost)',
  );
};

export function createAccessControl(config: Config, log: Logger): AccessControl {
  const setup = createAuthSetup(config, log);
  if (!setup) return { guard: adminFromThisMachineOnly };
  const guard = setup.scheme ? createGuard(setup, log) : adminFromThisMachineOnly;
  const server = setup.tokenServer;
  const tokens =
    server && setup.users && setup.policy
      ? { path: server.path, service: createTokenService({ server, users: setup.users, policy: setup.policy }) }
      : undefined;
  return { guard, setup, tokens };
}
