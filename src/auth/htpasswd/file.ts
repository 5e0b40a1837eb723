/**
 * The htpasswd file format, as Distribution reads it: one `user:hash` per line, blank lines and
 * `#` comments allowed, and bcrypt the only hash accepted. Any other kind (Apache MD5 `$apr1$`,
 * `{SHA}`, crypt, plain text) is refused with the line that holds it, so that a file written
 * with the wrong `htpasswd` option stops start-up instead of silently locking users out.
 */
import { readFileSync } from 'node:fs';
import { userNameProblem, USER_NAME_RULE } from '../../api/user-name.js';

/** bcrypt in its modular-crypt form: `$2a$`, `$2b$` or `$2y$`, cost, then 53 characters. */
const BCRYPT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;

export class HtpasswdError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HtpasswdError';
  }
}

/** One line of the file: a user entry (with its line number when read), or anything else kept verbatim when the file is rewritten. */
export type HtpasswdLine = { user: string; hash: string; line?: number } | { text: string };

/** What kind of hash a string looks like, for the start-up error. */
export function hashKind(hash: string): string {
  if (BCRYPT.test(hash)) return 'bcrypt';
  if (hash.startsWith('$apr1$')) return 'Apache MD5 ($apr1$)';
  if (hash.startsWith('{SHA}')) return 'SHA-1 ({SHA})';
  if (hash.startsWith('$1$')) return 'MD5-crypt ($1$)';
  if (hash.startsWith('$5$') || hash.startsWith('$6$')) return 'SHA-crypt';
  if (/^\$2[aby]\$/.test(hash)) return 'malformed bcrypt';
  if (/^[./A-Za-z0-9]{13}$/.test(hash)) return 'DES crypt';
  return 'plain text or unknown';
}

/**
 * Parses a file. `strict` (what the server uses) refuses hashes other than bcrypt; the management
 * command reads leniently, so that it can replace such an entry.
 */
export function parseHtpasswd(text: string, source = 'htpasswd', strict = true): HtpasswdLine[] {
  const lines: HtpasswdLine[] = [];
  const seen = new Set<string>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) {
      lines.push({ text: raw });
      return;
    }
    const colon = line.indexOf(':');
    const where = `${source}:${index + 1}`;
    if (colon <= 0) throw new HtpasswdError(`${where}: expected "user:hash"`);
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    const kind = hashKind(hash);
    if (strict && kind !== 'bcrypt') {
      throw new HtpasswdError(
        `${where}: user "${user}" has a ${kind} password hash; only bcrypt is supported ` +
          `(recreate it with "berth htpasswd passwd ${source} ${user}" or "htpasswd -B")`,
      );
    }
    if (seen.has(user)) throw new HtpasswdError(`${where}: user "${user}" appears twice`);
    seen.add(user);
    lines.push({ user, hash, line: index + 1 });
  });
  while (
    lines.length > 0 &&
    'text' in lines[lines.length - 1]! &&
    (lines[lines.length - 1] as { text: string }).text.trim() === ''
  )
    lines.pop();
  return lines;
}

export function serializeHtpasswd(lines: HtpasswdLine[]): string {
  return `${lines.map((line) => ('text' in line ? line.text : `${line.user}:${line.hash}`)).join('\n')}\n`;
}

export interface HtpasswdUsersRead {
  /** name → bcrypt hash */
  users: Map<string, string>;
  /** Entries left out because of their user name, each as `file:line: why`. */
  refused: string[];
}

/**
 * The users of a file. Throws HtpasswdError for a missing or invalid file. An entry whose user
 * name Berth does not accept (user-name.ts) is left out, so that user cannot sign in, and
 * reported in `refused`: the rest of the file is used.
 */
export function readHtpasswd(path: string): HtpasswdUsersRead {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // Debian's packaged config.yml names the folder /etc/docker/registry here.
    if (code === 'EISDIR') {
      const suggested = `${path.replace(/\/+$/, '')}/htpasswd`;
      throw new HtpasswdError(
        `htpasswd path ${path} is a directory, not an htpasswd file: set auth.htpasswd.path to a file, for example ${suggested}, and create it with "berth htpasswd add ${suggested} USER"`,
      );
    }
    const hint = code === 'ENOENT' ? ` (create it with "berth htpasswd add ${path} USER")` : '';
    throw new HtpasswdError(`cannot read htpasswd file ${path}: ${(error as Error).message}${hint}`);
  }
  const users = new Map<string, string>();
  const refused: string[] = [];
  for (const line of parseHtpasswd(text, path)) {
    if (!('user' in line)) continue;
    const problem = userNameProblem(line.user);
    if (problem === undefined) users.set(line.user, line.hash);
    else
      refused.push(
        `${path}:${line.line}: user ${JSON.stringify(line.user)} ${problem}; the entry is ignored (user names may have ${USER_NAME_RULE})`,
      );
  }
  return { users, refused };
}
