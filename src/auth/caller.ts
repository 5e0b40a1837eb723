/**
 * Who made a request, once the guard has decided: handlers that shape their answer by caller
 * (the catalog lists only what the caller may pull) look it up here by the raw request.
 */
import type { IncomingMessage } from 'node:http';

/** Decides whether the caller may see a repository. */
export type RepositoryFilter = (name: string) => boolean;

const filters = new WeakMap<IncomingMessage, RepositoryFilter>();

export function setRepositoryFilter(request: IncomingMessage, filter: RepositoryFilter): void {
  filters.set(request, filter);
}

/** The filter for this request's caller, or undefined when everything is visible (auth off). */
export function repositoryFilter(request: IncomingMessage): RepositoryFilter | undefined {
  return filters.get(request);
}

/** The signed-in caller of a request: a user and the groups it belongs to. */
export interface CallerInfo {
  user?: string;
  groups: string[];
}

const callers = new WeakMap<IncomingMessage, CallerInfo>();

/** Records who the caller is, once the guard has checked the credentials. */
export function setCaller(request: IncomingMessage, caller: CallerInfo): void {
  callers.set(request, caller);
}

/** The caller the guard established, or undefined (auth off, an open path, or not decided yet). */
export function callerOf(request: IncomingMessage): CallerInfo | undefined {
  return callers.get(request);
}
