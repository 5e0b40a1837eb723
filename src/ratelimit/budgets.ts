/**
 * Which budget applies to a caller. Each budget has a limit and a window (a fixed window that
 * starts with the first request counted in it). Overrides change `requests`, `pulls` and
 * `uploads` per caller, budget by budget:
 *
 *   the user's own entry (`users.<name>`)
 *   else the first group listed under `groups` that the user belongs to and that sets the budget
 *   else, for a caller who is not signed in, `anonymous`
 *   else the default budget.
 *
 * An override without a window keeps the default budget's window; `unlimited` lifts the limit.
 * `tokens` and `failedlogins` are spent before the caller is known, so they are per address and
 * have no overrides.
 */
import type { RateLimitConfig } from '../config/schema.js';
import type { Caller } from './identity.js';

export const BUDGETS = ['requests', 'pulls', 'uploads', 'tokens', 'failedlogins'] as const;
export type BudgetName = (typeof BUDGETS)[number];
type OverridableBudget = 'requests' | 'pulls' | 'uploads';

/** A limit in force: at most `limit` in each window of `windowSeconds`. */
export interface Budget {
  name: BudgetName;
  limit: number;
  windowSeconds: number;
}

type Setting = NonNullable<RateLimitConfig['requests']>;
type Overrides = RateLimitConfig['users'][string];

export class BudgetTable {
  private readonly groupOrder: string[];

  constructor(private readonly config: RateLimitConfig) {
    this.groupOrder = Object.keys(config.groups);
  }

  /** Whether any budget is configured (rate limiting is off otherwise). */
  get enabled(): boolean {
    if (!this.config.enabled) return false;
    const overrides = [
      this.config.anonymous,
      ...Object.values(this.config.groups),
      ...Object.values(this.config.users),
    ];
    return (
      BUDGETS.some((name) => this.config[name] !== undefined) ||
      overrides.some((entry) => entry && Object.keys(entry).length > 0)
    );
  }

  /** The budget of `name` for a caller, or undefined when the caller has no limit there. */
  budgetFor(name: BudgetName, caller: Caller): Budget | undefined {
    const base = this.config[name];
    const override = name === 'tokens' || name === 'failedlogins' ? undefined : this.overrideFor(name, caller);
    const setting: Setting | undefined = override ?? base;
    if (!setting || setting.limit === 'unlimited') return undefined;
    const window = setting.window ?? base?.window;
    // The schema refuses an override without a window when there is no default window to keep.
    if (window === undefined) return undefined;
    return { name, limit: setting.limit, windowSeconds: Math.round(window / 1000) };
  }

  private overrideFor(name: OverridableBudget, caller: Caller): Setting | undefined {
    if (caller.user === undefined) return this.config.anonymous?.[name];
    const own: Overrides | undefined = this.config.users[caller.user];
    if (own?.[name]) return own[name];
    for (const group of this.groupOrder) {
      if (!caller.groups.includes(group)) continue;
      const setting = this.config.groups[group]?.[name];
      if (setting) return setting;
    }
    return undefined;
  }
}
