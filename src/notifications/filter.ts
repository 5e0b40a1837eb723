/**
 * Which events an endpoint gets: Distribution's `ignoredmediatypes`, `ignore.mediatypes` and
 * `ignore.actions` (either one ignores the event), and Berth's repository patterns (`repositories`
 * to choose, `ignore.repositories` to leave out), written like the access rules' patterns.
 */
import { compilePattern, type RepositoryPattern } from '../api/pattern.js';
import type { NotificationEndpointConfig } from '../config/notifications.js';
import type { EventInput } from './event.js';

export type EventFilter = (event: EventInput) => boolean;

export function endpointFilter(endpoint: NotificationEndpointConfig): EventFilter {
  const mediaTypes = new Set([...endpoint.ignoredmediatypes, ...endpoint.ignore.mediatypes]);
  const actions = new Set<string>(endpoint.ignore.actions);
  const chosen = endpoint.repositories.map(compilePattern);
  const ignored = endpoint.ignore.repositories.map(compilePattern);
  const matchesAny = (patterns: RepositoryPattern[], name: string) =>
    patterns.some((pattern) => pattern.matches(name, undefined));
  return (event) => {
    if (actions.has(event.action)) return false;
    if (event.target.mediaType !== undefined && mediaTypes.has(event.target.mediaType)) return false;
    const name = event.target.repository;
    if (chosen.length > 0 && !matchesAny(chosen, name)) return false;
    return !matchesAny(ignored, name);
  };
}
