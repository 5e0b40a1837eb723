/**
 * Berth's administrative endpoints under `/_berth/admin/` (also under `http.prefix` when one is
 * set). Authentication guards the whole `/_berth/admin/` tree (`registry:admin:*`) when it is
 * configured; these handlers assume the caller was let through.
 *
 *   POST /_berth/admin/gc   runs garbage collection now and answers with its report (JSON).
 *                           Query: dryrun=true, deleteuntagged=true|false (default: the
 *                           configuration), wait=false (answer 202 at once; GET shows progress).
 *   GET  /_berth/admin/gc   the state: running or not, settings, the last run's report.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RegistryError } from '../../api/errors.js';
import { GcBusyError } from '../../registry/gc/lock.js';
import type { OnlineGc } from '../../registry/gc/scheduler.js';

const ADMIN_GC = '/_berth/admin/gc';

function booleanParam(query: URLSearchParams, name: string): boolean | undefined {
  const value = query.get(name);
  if (value === null) return undefined;
  if (value === 'true' || value === '1' || value === '') return true;
  if (value === 'false' || value === '0') return false;
  throw new RegistryError('UNSUPPORTED', `query parameter ${name} must be true or false, not "${value}"`, { [name]: value }, { status: 400 });
}

function queryOf(request: FastifyRequest): URLSearchParams {
  const url = request.raw.url ?? '';
  const start = url.indexOf('?');
  return new URLSearchParams(start === -1 ? '' : url.slice(start + 1));
}

function sendJson(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).type('application/json').send(JSON.stringify(body));
}

function busy(error: GcBusyError): RegistryError {
  return new RegistryError('UNSUPPORTED', error.message, { holder: error.holder }, { status: 409 });
}

export function registerAdminRoutes(app: FastifyInstance, gc: OnlineGc, prefix: string): void {
  for (const url of prefix ? [ADMIN_GC, `${prefix}${ADMIN_GC}`] : [ADMIN_GC]) {
    app.route({
      method: 'POST',
      url,
      handler: async (request, reply) => {
        if (request.raw.readable) request.raw.resume(); // no body is read
        const query = queryOf(request);
        const options = { dryRun: booleanParam(query, 'dryrun'), deleteUntagged: booleanParam(query, 'deleteuntagged') };
        const wait = booleanParam(query, 'wait') ?? true;
        const running = gc.run(options);
        if (!wait) {
          running.catch((error: unknown) => {
            if (error instanceof GcBusyError) request.log.info({ holder: error.holder }, 'garbage collection not started: another process is collecting');
            else request.log.error({ err: error }, 'garbage collection failed');
          });
          return sendJson(reply, 202, gc.status());
        }
        try {
          return sendJson(reply, 200, await running);
        } catch (error) {
          throw error instanceof GcBusyError ? busy(error) : error;
        }
      },
    });
    app.route({
      method: 'GET',
      url,
      handler: async (_request, reply) => sendJson(reply, 200, gc.status()),
    });
  }
}
