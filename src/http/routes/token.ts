/**
 * The built-in token server's URL (`berth.auth.tokenserver.path`, `/auth/token` by default):
 * reads the query (GET) or the form (POST, at most 64 KiB) and hands it to the token service
 * (src/auth/token/server.ts). Refusals are TokenRequestErrors, written by src/http/errors.ts
 * with both the registry's envelope and OAuth2's fields.
 */
import { badTokenRequest } from '../../auth/token/errors.js';
import { TOKEN_FORM_LIMIT, type TokenRequest, type TokenService } from '../../auth/token/server.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { tokenRequests } from '../../metrics/families.js';
import { readBoundedBody } from '../context.js';
import type { Endpoint } from '../endpoint.js';

async function readForm(request: FastifyRequest): Promise<URLSearchParams> {
  const body = await readBoundedBody(request.raw, TOKEN_FORM_LIMIT);
  if (body === undefined) throw badTokenRequest(`form body exceeds ${TOKEN_FORM_LIMIT} bytes`);
  const type = String(request.headers['content-type'] ?? '');
  if (!type.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
    throw badTokenRequest('POST needs Content-Type: application/x-www-form-urlencoded');
  }
  return new URLSearchParams(body.toString('utf8'));
}

function tokenRequest(request: FastifyRequest, params: URLSearchParams): TokenRequest {
  return {
    params,
    authorization: request.headers.authorization,
    loginFailed: request.berth.loginFailed,
    log: request.log,
  };
}

function send(reply: FastifyReply, body: Record<string, unknown>): FastifyReply {
  // Tokens are credentials: no cache may keep them (RFC 6749 §5.1).
  return reply
    .code(200)
    .header('Cache-Control', 'no-store')
    .header('Pragma', 'no-cache')
    .type('application/json')
    .send(JSON.stringify(body));
}

/** Counts each answer in berth_token_requests_total: issued, or refused with its status. */
async function counted(answer: () => Promise<Record<string, unknown>>): Promise<Record<string, unknown>> {
  try {
    const body = await answer();
    tokenRequests.inc({ result: 'issued', code: '200' });
    return body;
  } catch (error) {
    tokenRequests.inc({ result: 'refused', code: String((error as { status?: number }).status ?? 500) });
    throw error;
  }
}

export function tokenEndpoint(service: TokenService): Endpoint {
  return {
    GET: async (request, reply) =>
      send(reply, await counted(() => service.get(tokenRequest(request, request.berth.target.query)))),
    POST: async (request, reply) =>
      send(reply, await counted(async () => service.post(tokenRequest(request, await readForm(request))))),
  };
}
