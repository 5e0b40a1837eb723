/** Rate limits per caller and the upload concurrency limit (docs/rate-limits.md). */
export { installRateLimits, type RateLimits } from './hook.js';
