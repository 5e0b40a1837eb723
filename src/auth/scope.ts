/**
 * Resource scopes as the token specification writes them: `type:name:action[,action]`, for
 * example `repository:team-a/app:pull,push` or `registry:catalog:*`. One scope names one
 * resource; the actions granted or needed on it are a set.
 */
import { isValidName, NAME_MAX_LENGTH } from '../api/reference.js';

/** What one request needs, or one token grants, on one resource. */
export interface ResourceAccess {
  type: string;
  name: string;
  actions: string[];
}

export const REPOSITORY = 'repository';
export const REGISTRY = 'registry';
/** `registry:catalog:*`: listing repositories (`GET /v2/_catalog`). */
export const CATALOG: ResourceAccess = { type: REGISTRY, name: 'catalog', actions: ['*'] };
/** `registry:admin:*`: Berth's administrative endpoints (`/_berth/admin/…`). */
export const ADMIN: ResourceAccess = { type: REGISTRY, name: 'admin', actions: ['*'] };

const TYPE = /^[a-z0-9]+(?:\([a-z0-9]+\))?$/;
const ACTION = /^(?:[a-z]*|\*)$/;
const HOST_LABEL = /^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$/;

/** The scope grammar's hostname: dot-separated labels, then optionally `:port`. */
function isHostname(text: string): boolean {
  const colon = text.indexOf(':');
  const host = colon === -1 ? text : text.slice(0, colon);
  if (colon !== -1 && !/^[0-9]+$/.test(text.slice(colon + 1))) return false;
  return host.split('.').every((label) => HOST_LABEL.test(label));
}

/**
 * Whether a resource name may appear in a scope: for a repository, the scope grammar's
 * `[hostname '/'] component ['/' component]*` (the components are the repository name grammar
 * of api/reference.ts); for any type, at most NAME_MAX_LENGTH characters and no whitespace.
 * Names reach the access rules' patterns, so nothing else gets that far.
 */
export function isValidResourceName(type: string, name: string): boolean {
  if (name === '' || name.length > NAME_MAX_LENGTH || /\s/.test(name)) return false;
  if (type !== REPOSITORY) return true;
  if (isValidName(name)) return true;
  const slash = name.indexOf('/');
  return slash > 0 && isHostname(name.slice(0, slash)) && isValidName(name.slice(slash + 1));
}

/** The three parts of a scope, before the name is checked; undefined when they cannot be told apart. */
function splitScope(text: string): ResourceAccess | undefined {
  const first = text.indexOf(':');
  const last = text.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  const written = text.slice(0, first);
  const actions = text.slice(last + 1).split(',');
  if (!TYPE.test(written) || !actions.every((action) => ACTION.test(action))) return undefined;
  return {
    type: written.replace(/\(.*\)$/, ''),
    name: text.slice(first + 1, last),
    actions: unique(actions.filter(Boolean)),
  };
}

/**
 * Parses one scope. The name may itself hold one `:` (a registry host with a port), so the type
 * is what precedes the first `:` and the actions what follows the last one. A resource class
 * (`repository(plugin)`) is deprecated and ignored, as Distribution does. A name that is not a
 * valid resource name (isValidResourceName) makes the scope invalid.
 */
export function parseScope(text: string): ResourceAccess | undefined {
  const scope = splitScope(text);
  return scope && isValidResourceName(scope.type, scope.name) ? scope : undefined;
}

/** Why a scope is not accepted, for the token server's `invalid_scope` answer. */
export function scopeProblem(text: string): string {
  const shown = `invalid scope "${text.slice(0, 300)}"`;
  const scope = splitScope(text);
  if (!scope) return `${shown}: expected type:name:actions`;
  if (scope.type === REPOSITORY)
    return `${shown}: not a repository name (lowercase path components, at most ${NAME_MAX_LENGTH} characters)`;
  return `${shown}: the name is empty, holds whitespace or is longer than ${NAME_MAX_LENGTH} characters`;
}

/** Parses a list of scopes: each string may itself hold several, separated by spaces. */
export function parseScopes(values: string[]): { scopes: ResourceAccess[]; invalid: string[] } {
  const scopes: ResourceAccess[] = [];
  const invalid: string[] = [];
  for (const value of values) {
    for (const part of value.split(' ').filter(Boolean)) {
      const scope = parseScope(part);
      if (scope) scopes.push(scope);
      else invalid.push(part);
    }
  }
  return { scopes: mergeScopes(scopes), invalid };
}

export function formatScope(access: ResourceAccess): string {
  return `${access.type}:${access.name}:${access.actions.join(',')}`;
}

/** Joins scopes on the same resource, keeping the first-seen order of resources and actions. */
export function mergeScopes(list: ResourceAccess[]): ResourceAccess[] {
  const byKey = new Map<string, ResourceAccess>();
  for (const access of list) {
    const key = `${access.type}:${access.name}`;
    const existing = byKey.get(key);
    if (existing) existing.actions = unique([...existing.actions, ...access.actions]);
    else byKey.set(key, { type: access.type, name: access.name, actions: [...access.actions] });
  }
  return [...byKey.values()];
}

/** Whether a granted action set covers an action (`*` covers every action). */
export function covers(granted: readonly string[], action: string): boolean {
  return granted.includes('*') || granted.includes(action);
}

/** Whether a token's access list covers everything one request needs. */
export function grants(access: readonly ResourceAccess[], needed: ResourceAccess): boolean {
  const granted = access
    .filter((entry) => entry.type === needed.type && entry.name === needed.name)
    .flatMap((entry) => entry.actions);
  return needed.actions.every((action) => covers(granted, action));
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
