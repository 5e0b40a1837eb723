/**
 * What Berth knows about one request, in one typed object on the request (`request.berth`):
 * made by the first hook of the pipeline (src/http/pipeline.ts) and read by every layer after
 * it. The target and route are parsed once; the access rules set the caller; the rate limits
 * record the budgets they charged. Auth and rate limits talk to each other only through this
 * object (a failed login is reported here, and counted by whoever listens).
 */
import type { IncomingMessage } from 'node:http';
import { clientAddress, isLoopback, originParts, type OriginParts, type TrustedProxies } from './client.js';
import type { Route, RouteTable } from './routes.js';
import { parseRequestTarget, type RequestTarget } from './target.js';

/** Who made the request, once the access rules have decided. */
export interface Caller {
  /** The signed-in user; undefined for an anonymous caller. */
  user?: string;
  groups: readonly string[];
  /** Whether the caller may pull a repository (the catalog lists only those); undefined: all. */
  mayPull?: (name: string) => boolean;
  /** The actions the rules give the caller on a repository; undefined when Berth knows no rules. */
  actionsOn?: (name: string) => readonly string[];
}

/** A budget a request was counted against, with what is left of it (for the RateLimit headers). */
export interface ChargedBudget {
  budget: { name: string; limit: number; windowSeconds: number };
  remaining: number;
  resetMs: number;
}

export interface RequestState {
  readonly target: RequestTarget;
  readonly route: Route;
  /** The client's address: the peer, or the hop a trusted proxy names (src/request/client.ts). */
  readonly clientAddress: string;
  /** Whether the client is on this machine (loopback or a Unix socket), after trusted proxies. */
  readonly local: boolean;
  readonly origin: OriginParts;
  /**
   * A CORS preflight (OPTIONS with Access-Control-Request-Method): browsers send it without
   * credentials before a cross-origin request that carries them, so the access rules let it pass;
   * it is answered with the allowed methods and `http.headers`, never with content.
   */
  readonly preflight: boolean;
  /** Set by the access rules when they let the request through; undefined with auth off. */
  caller?: Caller;
  /** Budgets charged so far. */
  readonly charged: ChargedBudget[];
  /** Reports wrong credentials for `account`; the rate limits count it when they are on. */
  loginFailed: (account: string | undefined) => Promise<void>;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The request state (src/request/state.ts); present from the first onRequest hook on. */
    berth: RequestState;
  }
}

const ignoreFailedLogin = async (): Promise<void> => {};

/** Reads a request once: target, route, client. Throws TargetError for a target it refuses. */
export function readRequest(request: IncomingMessage, routes: RouteTable, proxies: TrustedProxies): RequestState {
  const target = parseRequestTarget(request.url ?? '/');
  const address = clientAddress(request, proxies);
  return {
    target,
    route: routes.routeOf(target.path, target.query),
    clientAddress: address,
    local: isLoopback(address),
    origin: originParts(request, proxies, target.authority),
    preflight: request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined,
    charged: [],
    loginFailed: ignoreFailedLogin,
  };
}
