/**
 * Which user names Berth accepts. Access rules put the caller's name into repository patterns
 * (`${user}/**`), and a repository name is made of path components, so a user name must be one
 * literal piece of text: no `/` (it would reach into other namespaces), no `*` (it would read as
 * a wildcard to anyone who writes the name into a rule), no `:` (the htpasswd separator), no
 * whitespace or control characters (they cannot be typed into a login and garble logs).
 */

const MAX_LENGTH = 255;

/** Why a user name is refused, or undefined when it is accepted. */
export function userNameProblem(user: string): string | undefined {
  if (user.length === 0) return 'is empty';
  if (user.length > MAX_LENGTH) return `is longer than ${MAX_LENGTH} characters`;
  const bad = /[/*:\s\p{Cc}]/u.exec(user)?.[0];
  if (bad === undefined) return undefined;
  if (/\p{Cc}/u.test(bad)) return 'contains a control character';
  if (/\s/.test(bad)) return 'contains whitespace';
  return `contains "${bad}"`;
}

export function isValidUserName(user: string): boolean {
  return userNameProblem(user) === undefined;
}

/** What a valid name may not hold, for messages. */
export const USER_NAME_RULE = 'no "/", "*", ":", whitespace or control characters';
