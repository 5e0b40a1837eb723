/**
 * Berth's administrative endpoints under `/_berth/admin/` (also under `http.prefix` when one is
 * set). With auth on, the whole tree needs `registry:admin:*`; with auth off it answers only
 * callers on this machine (src/auth/index.ts). These handlers assume the caller was let through.
 *
 *   POST /_berth/admin/gc   runs garbage collection now and answers with its report (JSON).
 *                           Query: dryrun=true, deleteuntagged=true|false (default: the
 *                           configuration), wait=false (answer 202 at once; GET shows progress).
 *   GET  /_berth/admin/gc   the state: running or not, settings, the last run's report.
 *   GET  /_berth/admin/usage?repositories=<pattern>
 *                           storage accounting: bytes per repository and namespace, and the
 *                           registry total (docs/policies.md), from the incremental index.
 */
import type { FastifyReply } from 'fastify';
import { RegistryError } from '../../api/errors.js';
import { GcBusyError } from '../../registry/gc/lock.js';
import type { OnlineGc } from '../../registry/gc/scheduler.js';
import type { Registry } from '../../registry/registry.js';
import { repositoryFilter } from '../../registry/policies/patterns.js';
import type { Endpoint } from '../endpoint.js';

function booleanParam(query: URLSearchParams, name: string): boolean | undefined {
  const value = query.get(name);
  if (value === null) return undefined;
  if (value === 'true' || value === '1' || value === '') return true;
  if (value === 'false' || value === '0') return false;
  throw new RegistryError(
    'UNSUPPORTED',
    `query parameter ${name} must be true or false, not "${value}"`,
    { [name]: value },
    { status: 400 },
  );
}

function sendJson(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).type('application/json').send(JSON.stringify(body));
}

/** The endpoints of the administrative tree, by the path below `/_berth/admin/`. */
export function adminEndpoints(gc: OnlineGc | undefined, registry: Registry): Record<string, Endpoint> {
  const usage: Endpoint = {
    GET: async (request, reply) => {
      const pattern = request.berth.target.query.get('repositories') ?? undefined;
      let include: ((name: string) => boolean) | undefined;
      try {
        include = repositoryFilter(pattern);
      } catch (error) {
        throw new RegistryError('UNSUPPORTED', (error as Error).message, { repositories: pattern }, { status: 400 });
      }
      return sendJson(reply, 200, await registry.accounting.report(include));
    },
  };
  if (!gc) return { usage };
  const gcEndpoint: Endpoint = {
    POST: async (request, reply) => {
      const { query } = request.berth.target;
      const options = { dryRun: booleanParam(query, 'dryrun'), deleteUntagged: booleanParam(query, 'deleteuntagged') };
      const wait = booleanParam(query, 'wait') ?? true;
      const running = gc.run(options);
      if (!wait) {
        running.catch((error: unknown) => {
          if (error instanceof GcBusyError)
            request.log.info({ holder: error.holder }, 'garbage collection not started: another process is collecting');
          else request.log.error({ err: error }, 'garbage collection failed');
        });
        return sendJson(reply, 202, gc.status());
      }
      // A GcBusyError becomes 409 in src/http/errors.ts.
      return sendJson(reply, 200, await running);
    },
    GET: async (_request, reply) => sendJson(reply, 200, gc.status()),
  };
  return { gc: gcEndpoint, usage };
}
