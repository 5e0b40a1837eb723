/**
 * Defaults that depend on another section, applied once the configuration is valid.
 *
 * Failed logins: whenever Berth checks passwords (users from `auth.htpasswd` or
 * `berth.auth.htpasswd`), `berth.ratelimit.failedlogins` defaults to 10 wrong passwords per
 * client address in 15 minutes, so that password guessing is bounded without any setting
 * (docs/rate-limits.md). Setting the budget replaces the default, `failedlogins: unlimited`
 * lifts it, and `berth.ratelimit.enabled: false` turns it off with every other rate limit.
 * With only an external token server Berth sees no password, so nothing is added.
 */
import type { Config, RateLimitConfig } from './schema.js';

export const DEFAULT_FAILED_LOGINS = { limit: 10, window: 15 * 60_000 } as const;

function checksPasswords(config: Config): boolean {
  return config.auth?.htpasswd !== undefined || config.berth.auth?.htpasswd !== undefined;
}

export function applyImpliedDefaults(config: Config): void {
  if (!checksPasswords(config)) return;
  const limits: RateLimitConfig = config.berth.ratelimit ?? { enabled: true, groups: {}, users: {} };
  if (limits.failedlogins !== undefined) return;
  config.berth.ratelimit = { ...limits, failedlogins: { ...DEFAULT_FAILED_LOGINS } };
}
