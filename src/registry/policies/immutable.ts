/**
 * Immutable tags (`berth.immutabletags`, docs/policies.md): once a tag matching a rule exists, a
 * push that would point it at another manifest, or a delete that would remove it, is refused
 * with DENIED naming the rule. Pushing the same manifest again is no change and is accepted.
 *
 * An administrator lifts the rule for one operation on one tag with `berth tag-unlock`, which
 * writes an unlock file into the storage (so every process serving it sees it); the operation it
 * allows deletes the file before acting, so the unlock serves once, and it expires unused.
 */
import type { Digest } from '../../api/reference.js';
import type { ImmutableRuleConfig } from '../../config/policies.js';
import { isNotFound, type StorageDriver } from '../../storage/driver.js';
import * as paths from '../../storage/paths.js';
import { ImmutableTagError } from '../errors.js';
import { patternList, type PatternList } from './patterns.js';

interface Rule {
  /** How the rule is named in refusals: its place in the configuration and its patterns. */
  label: string;
  repositories: PatternList;
  tags: PatternList;
}

export interface Unlock {
  /** ISO time after which the unlock no longer counts. */
  expires: string;
  /** Who asked for it (free text, logged when it is used). */
  by?: string;
}

export class ImmutableTags {
  private readonly rules: Rule[];

  constructor(
    private readonly driver: StorageDriver,
    rules: readonly ImmutableRuleConfig[],
    private readonly onUnlockUsed?: (name: string, tag: string, unlock: Unlock) => void,
  ) {
    this.rules = rules.map((rule, at) => ({
      label: `berth.immutabletags[${at}] (repositories ${rule.repositories.join(', ')}; tags ${rule.tags.join(', ')})`,
      repositories: patternList(rule.repositories),
      tags: patternList(rule.tags),
    }));
  }

  get enabled(): boolean {
    return this.rules.length > 0;
  }

  /** The rule that makes `name:tag` immutable, if any. */
  ruleFor(name: string, tag: string): string | undefined {
    return this.rules.find((rule) => rule.repositories.match(name) && rule.tags.match(tag))?.label;
  }

  /**
   * Throws ImmutableTagError unless `tag`, which now names `current`, may name `next` (undefined:
   * be removed). A tag that does not exist yet may be created.
   */
  async assertMayChange(name: string, tag: string, current: Digest | undefined, next: Digest | undefined) {
    if (!current || current.value === next?.value) return;
    const rule = this.ruleFor(name, tag);
    if (!rule) return;
    if (await this.useUnlock(name, tag)) return;
    throw new ImmutableTagError(name, tag, rule, next ? 'moved' : 'deleted');
  }

  /** Writes a one-operation unlock (`berth tag-unlock`). */
  async unlock(name: string, tag: string, unlock: Unlock): Promise<void> {
    await this.driver.putContent(paths.tagUnlock(name, tag), JSON.stringify(unlock));
  }

  /** True when an unexpired unlock was there; it is removed either way, so it serves once. */
  private async useUnlock(name: string, tag: string): Promise<boolean> {
    const path = paths.tagUnlock(name, tag);
    let unlock: Unlock;
    try {
      unlock = JSON.parse((await this.driver.getContent(path)).toString('utf8')) as Unlock;
      // Whoever deletes it first uses it: two operations racing for one unlock cannot both pass.
      await this.driver.delete(path);
    } catch (error) {
      if (isNotFound(error) || error instanceof SyntaxError) return false;
      throw error;
    }
    if (!(Date.parse(unlock.expires) > Date.now())) return false;
    this.onUnlockUsed?.(name, tag, unlock);
    return true;
  }
}
