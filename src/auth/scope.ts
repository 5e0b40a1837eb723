/**
 * Resource scopes as the token specification writes them: `type:name:action[,action]`, for
 * example `repository:team-a/app:pull,push` or `registry:catalog:*`. One scope names one
 * resource; the actions granted or needed on it are a set.
 */

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

/**
 * Parses one scope. The name may itself hold one `:` (a registry host with a port), so the type
 * is what precedes the first `:` and the actions what follows the last one. A resource class
 * (`repository(plugin)`) is deprecated and ignored, as Distribution does.
 */
export function parseScope(text: string): ResourceAccess | undefined {
  const first = text.indexOf(':');
  const last = text.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  const type = text.slice(0, first);
  const name = text.slice(first + 1, last);
  const actions = text.slice(last + 1).split(',');
  if (!TYPE.test(type) || name === '' || /\s/.test(name) || !actions.every((action) => ACTION.test(action))) return undefined;
  return { type: type.replace(/\(.*\)$/, ''), name, actions: unique(actions.filter(Boolean)) };
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
  const granted = access.filter((entry) => entry.type === needed.type && entry.name === needed.name).flatMap((entry) => entry.actions);
  return needed.actions.every((action) => covers(granted, action));
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
