/**
 * Repository patterns of the access rules: `*` is one path component (or, inside a component,
 * one or more of its characters: `team-*`), `**` one or more whole components, `${user}` the
 * caller's name, everything else literal.
 *
 * Patterns are matched component by component with a greedy scan that keeps a single resumption
 * point (the last wildcard seen), never with a regular expression: the work is at most
 * (length of the name × length of the pattern) steps whatever the name or the user, where a
 * backtracking regular expression built from a pattern or a user name can take exponential time
 * and freeze the server. The caller's name is substituted as literal characters, so nothing in
 * it acts as a wildcard; a name that is not a valid user name (user-name.ts) never matches
 * `${user}` at all.
 */
import { isValidUserName } from './user-name.js';

export class PatternError extends Error {}

/** Matches zero or more items; every other token matches exactly one. */
const MANY = Symbol('many');
/** Matches any one item. */
const ANY = Symbol('any');

type Token<T> = T | typeof ANY | typeof MANY;

/**
 * Whether `items` match `tokens`. On a mismatch the scan resumes after the last MANY with that
 * MANY taking one more item; earlier MANYs never need to be revisited, because the last one can
 * absorb whatever they would have taken.
 */
function matchSequence<T, I>(
  tokens: readonly Token<T>[],
  items: readonly I[] | string,
  one: (token: T, item: I) => boolean,
): boolean {
  let token = 0;
  let item = 0;
  let resumeToken = -1;
  let resumeItem = 0;
  while (item < items.length) {
    const current = tokens[token];
    if (current === MANY) {
      resumeToken = token + 1;
      resumeItem = item;
      token += 1;
    } else if (current !== undefined && (current === ANY || one(current, items[item] as I))) {
      token += 1;
      item += 1;
    } else if (resumeToken >= 0) {
      resumeItem += 1;
      token = resumeToken;
      item = resumeItem;
    } else {
      return false;
    }
  }
  while (tokens[token] === MANY) token += 1;
  return token === tokens.length;
}

/** A piece of one component: literal text, a `*`, or the caller's name. */
type Piece = { text: string } | { star: true } | { user: true };
/** One component of a pattern: `**`, or pieces matched against one component of the name. */
type Component = { components: true } | { pieces: Piece[] };

function pieces(component: string, pattern: string): Piece[] {
  if (component === '') throw new PatternError(`repository pattern "${pattern}" has an empty path component`);
  if (component.includes('**'))
    throw new PatternError(`repository pattern "${pattern}": "**" must be a whole path component`);
  return component
    .split(/(\*|\$\{user\})/)
    .filter((part) => part !== '')
    .map((part): Piece => (part === '*' ? { star: true } : part === '${user}' ? { user: true } : { text: part }));
}

/** The characters a component of the name must match, with the caller's name filled in. */
function characterTokens(list: Piece[], user: string): Token<string>[] {
  const tokens: Token<string>[] = [];
  for (const piece of list) {
    if ('star' in piece) tokens.push(ANY, MANY);
    else tokens.push(...('user' in piece ? user : piece.text));
  }
  return tokens;
}

const sameCharacter = (expected: string, actual: string) => expected === actual;

export interface RepositoryPattern {
  readonly source: string;
  /** Whether the pattern names the caller (`${user}`): such a pattern never matches an anonymous caller. */
  readonly personal: boolean;
  matches(name: string, user: string | undefined): boolean;
}

export function compilePattern(pattern: string): RepositoryPattern {
  const components: Component[] = pattern
    .split('/')
    .map((part) => (part === '**' ? { components: true } : { pieces: pieces(part, pattern) }));
  const personal = components.some(
    (component) => 'pieces' in component && component.pieces.some((piece) => 'user' in piece),
  );
  const tokensFor = (user: string): Token<Token<string>[]>[] =>
    components.flatMap((component): Token<Token<string>[]>[] =>
      'components' in component ? [ANY, MANY] : [characterTokens(component.pieces, user)],
    );
  const fixed = personal ? undefined : tokensFor('');
  return {
    source: pattern,
    personal,
    matches(name, user) {
      if (personal && (user === undefined || !isValidUserName(user))) return false;
      const tokens = fixed ?? tokensFor(user!);
      return matchSequence(tokens, name.split('/'), (characters: Token<string>[], part: string) =>
        matchSequence(characters, part, sameCharacter),
      );
    },
  };
}
