/**
 * Access rules: who may do what on which repositories, and who may list the catalog or use the
 * administrative endpoints.
 *
 * A caller is anonymous or a user (from htpasswd, or the subject of a token); users belong to
 * groups. For a repository, rules are read top to bottom and the FIRST rule whose subject and
 * pattern both match decides the actions (an empty list denies); when none matches, nothing is
 * allowed. Registry-wide rights (`catalog`, `admin`) are granted by any matching rule that names
 * them. See docs/auth.md.
 */
import { compilePattern, PatternError, type RepositoryPattern } from '../api/pattern.js';
import { covers, REGISTRY, REPOSITORY, type ResourceAccess } from './scope.js';

export const REPOSITORY_ACTIONS = ['pull', 'push', 'delete'] as const;
export const REGISTRY_RIGHTS = ['catalog', 'admin'] as const;
export type RegistryRight = (typeof REGISTRY_RIGHTS)[number];

export interface AccessRuleConfig {
  /** User names; `*` is every signed-in user. */
  users?: string[];
  groups?: string[];
  /** The rule applies to every caller, signed in or not. */
  anonymous?: boolean;
  /** Name patterns: `*` one path component, `**` one or more, `${user}` the caller's name. */
  repositories?: string[];
  /** Registry-wide rights the rule grants. */
  registry?: RegistryRight[];
  /** What the rule grants on matching repositories: pull, push, delete, or `*` for all. */
  actions?: string[];
}

/** Who is asking: a user name, or undefined for an anonymous caller. */
export interface Identity {
  user?: string;
}

export class RuleError extends Error {}

interface CompiledRule {
  index: number;
  users: Set<string>;
  groups: Set<string>;
  anyone: boolean;
  patterns: RepositoryPattern[];
  registry: Set<string>;
  actions: string[];
}

function compileIn(where: string, pattern: string): RepositoryPattern {
  try {
    return compilePattern(pattern);
  } catch (error) {
    if (error instanceof PatternError) throw new RuleError(`${where}: ${error.message}`);
    throw error;
  }
}

function normaliseActions(actions: string[]): string[] {
  if (actions.includes('*')) return ['*'];
  return REPOSITORY_ACTIONS.filter((action) => actions.includes(action));
}

export class AccessPolicy {
  private readonly rules: CompiledRule[];
  private readonly memberOf = new Map<string, Set<string>>();

  constructor(rules: AccessRuleConfig[], groups: Record<string, string[]> = {}) {
    for (const [group, members] of Object.entries(groups)) {
      for (const member of members) {
        if (!this.memberOf.has(member)) this.memberOf.set(member, new Set());
        this.memberOf.get(member)!.add(group);
      }
    }
    this.rules = rules.map((rule, index) => this.compile(rule, index, groups));
  }

  private compile(rule: AccessRuleConfig, index: number, groups: Record<string, string[]>): CompiledRule {
    const where = `berth.auth.rules[${index}]`;
    const users = rule.users ?? [];
    const groupNames = rule.groups ?? [];
    if (users.length === 0 && groupNames.length === 0 && !rule.anonymous) {
      throw new RuleError(`${where}: says nobody it applies to (give users, groups or anonymous: true)`);
    }
    for (const group of groupNames) {
      if (!(group in groups)) throw new RuleError(`${where}: group "${group}" is not defined under berth.auth.groups`);
    }
    const repositories = rule.repositories ?? [];
    const registry = rule.registry ?? [];
    if (repositories.length === 0 && registry.length === 0) {
      throw new RuleError(`${where}: grants nothing (give repositories with actions, or registry: [catalog, admin])`);
    }
    if (repositories.length > 0 && rule.actions === undefined) {
      throw new RuleError(`${where}: repositories need actions (pull, push, delete or "*"; [] denies)`);
    }
    return {
      index,
      users: new Set(users),
      groups: new Set(groupNames),
      anyone: rule.anonymous === true,
      patterns: repositories.map((pattern) => compileIn(where, pattern)),
      registry: new Set(registry),
      actions: normaliseActions(rule.actions ?? []),
    };
  }

  groupsOf(user: string): string[] {
    return [...(this.memberOf.get(user) ?? [])];
  }

  private applies(rule: CompiledRule, identity: Identity): boolean {
    if (rule.anyone) return true;
    const { user } = identity;
    if (user === undefined) return false;
    if (rule.users.has('*') || rule.users.has(user)) return true;
    const groups = this.memberOf.get(user);
    return groups !== undefined && [...rule.groups].some((group) => groups.has(group));
  }

  /** The actions a caller has on a resource: repository actions, or `*` for a registry right. */
  allowed(identity: Identity, type: string, name: string): string[] {
    if (type === REPOSITORY) {
      for (const rule of this.rules) {
        if (!this.applies(rule, identity)) continue;
        if (rule.patterns.some((pattern) => pattern.matches(name, identity.user))) return rule.actions;
      }
      return [];
    }
    if (type === REGISTRY) {
      return this.rules.some((rule) => rule.registry.has(name) && this.applies(rule, identity)) ? ['*'] : [];
    }
    return [];
  }

  /** Whether the caller may do every action of one access entry. */
  permits(identity: Identity, access: ResourceAccess): boolean {
    const granted = this.allowed(identity, access.type, access.name);
    return access.actions.every((action) => covers(granted, action));
  }

  /**
   * The intersection of what was asked and what the rules allow, as the token specification
   * asks of a token server: a partly allowed scope yields the allowed part, never an error.
   * Entries left with no action are dropped.
   */
  grant(identity: Identity, requested: ResourceAccess[]): ResourceAccess[] {
    const result: ResourceAccess[] = [];
    for (const access of requested) {
      const granted = this.allowed(identity, access.type, access.name);
      const actions = new Set<string>();
      for (const action of access.actions) {
        if (action === '*') {
          if (granted.includes('*')) actions.add('*');
          else for (const each of granted) actions.add(each);
        } else if (covers(granted, action)) {
          actions.add(action);
        }
      }
      if (actions.size > 0) result.push({ type: access.type, name: access.name, actions: [...actions] });
    }
    return result;
  }

  /** Whether some rule lets anonymous callers in at all. */
  anonymousHasAccess(): boolean {
    return this.rules.some((rule) => rule.anyone && (rule.actions.length > 0 || rule.registry.size > 0));
  }
}

/**
 * The rules used when none are configured: every signed-in user may do everything on every
 * repository and list the catalog; members of the group `admins` may also use the
 * administrative endpoints; anonymous callers get nothing. This is what Distribution allows an
 * htpasswd user, plus an opt-in administrator.
 */
export const DEFAULT_RULES: AccessRuleConfig[] = [
  { groups: ['admins'], registry: ['catalog', 'admin'], repositories: ['**'], actions: ['*'] },
  { users: ['*'], registry: ['catalog'], repositories: ['**'], actions: ['*'] },
];
