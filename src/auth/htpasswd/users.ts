/**
 * The users of an htpasswd file, checked with bcrypt. The file is read at start-up (an invalid
 * file stops it) and read again whenever it changes on disk, so `berth htpasswd` takes effect
 * without a restart; a later invalid version is logged and the previous users are kept.
 *
 * An entry whose user name Berth does not accept (user-name.ts) is logged as an error naming its
 * line, at start-up and on every reload, and left out: that user cannot sign in.
 *
 * bcrypt is slow on purpose, and a registry client sends credentials with every request, so a
 * successful check is remembered for a few minutes under an HMAC of user, password and hash
 * (never the password itself); changing or removing the user's entry invalidates it. The checks
 * themselves run off the event loop, a bounded number at a time (password-checks.ts).
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import type { Logger } from 'pino';
import { HtpasswdError, readHtpasswd } from './file.js';
import { PasswordChecks } from './password-checks.js';

const REMEMBER_MS = 5 * 60_000;
const REMEMBER_MAX = 1000;
/** Compared against when the user is unknown, so that timing does not tell which users exist. */
const DUMMY_HASH = '$2b$10$N31VQbA2RrPuujVs9oGT5OC5jPEyTNXUMINlAn9at82EU/wN.ozWe'; // bcrypt, cost 10, of a password nobody has

export class HtpasswdUsers {
  private users: Map<string, string>;
  private stamp: string;
  private readonly remembered = new Map<string, number>();
  private readonly secret = randomBytes(32);

  constructor(
    readonly path: string,
    private readonly log?: Logger,
    private readonly checks = new PasswordChecks(),
  ) {
    this.stamp = this.currentStamp();
    this.users = this.read();
  }

  /** Reads the file, reporting the entries left out. */
  private read(): Map<string, string> {
    const { users, refused } = readHtpasswd(this.path);
    for (const message of refused) this.log?.error({ path: this.path }, message);
    return users;
  }

  private currentStamp(): string {
    try {
      const stat = statSync(this.path);
      return `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
    } catch {
      return 'missing';
    }
  }

  /** Reads the file again if it changed since the last look. */
  private refresh(): void {
    const stamp = this.currentStamp();
    if (stamp === this.stamp) return;
    this.stamp = stamp;
    try {
      this.users = this.read();
      this.log?.info({ path: this.path, users: this.users.size }, 'htpasswd file reloaded');
    } catch (error) {
      const message = error instanceof HtpasswdError ? error.message : String(error);
      this.log?.error(
        { path: this.path },
        `htpasswd file changed but cannot be used; keeping the previous users: ${message}`,
      );
    }
  }

  has(user: string): boolean {
    this.refresh();
    return this.users.has(user);
  }

  /** A short fingerprint of the user's current entry: it changes when the password does. */
  fingerprint(user: string): string | undefined {
    this.refresh();
    const hash = this.users.get(user);
    return hash === undefined ? undefined : createHash('sha256').update(hash).digest('base64url').slice(0, 16);
  }

  /**
   * Whether the password is the user's. Throws a 429 RegistryError, without checking, when too
   * many checks are already waiting.
   */
  async verify(user: string, password: string): Promise<boolean> {
    this.refresh();
    const hash = this.users.get(user);
    if (hash === undefined) {
      await this.checks.compare(password, DUMMY_HASH);
      return false;
    }
    const key = createHmac('sha256', this.secret).update(`${user}\0${password}\0${hash}`).digest('base64');
    const until = this.remembered.get(key);
    const now = Date.now();
    if (until !== undefined && until > now) return true;
    if (!(await this.checks.compare(password, hash))) return false;
    if (this.remembered.size >= REMEMBER_MAX) this.remembered.clear();
    this.remembered.set(key, now + REMEMBER_MS);
    return true;
  }
}
