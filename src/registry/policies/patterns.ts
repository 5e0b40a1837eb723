/**
 * Repository and tag patterns of the policies, in the access rules' grammar (api/pattern.ts):
 * `*` one path component (or characters within one), `**` one or more components. Tags have no
 * `/`, so a tag pattern is one component: `v*`, `release-*`, `latest`.
 */
import { compilePattern } from '../../api/pattern.js';

export interface PatternList {
  readonly sources: readonly string[];
  /** The first pattern that matches, or undefined. */
  match(value: string): string | undefined;
}

export function patternList(sources: readonly string[]): PatternList {
  const compiled = sources.map(compilePattern);
  return {
    sources,
    match: (value) => compiled.find((pattern) => pattern.matches(value, undefined))?.source,
  };
}

/** A predicate for an optional repository pattern (a `berth du` argument); throws PatternError. */
export function repositoryFilter(pattern: string | undefined): ((name: string) => boolean) | undefined {
  if (pattern === undefined || pattern === '') return undefined;
  const list = patternList([pattern]);
  return (name) => list.match(name) !== undefined;
}
