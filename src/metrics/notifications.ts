/**
 * Distribution's notification families, read from the notifier's counters at each scrape
 * (src/notifications/counters.ts):
 *   registry_notifications_events_total{type,action,endpoint}  type Events (recorded), Successes
 *                                                              (delivered), Failures, Dropped
 *                                                              (dead letters dropped); action is
 *                                                              "all" (Berth does not count per action)
 *   registry_notifications_status_total{code,endpoint}         the last status of each endpoint, counted
 *   registry_notifications_pending{endpoint}                   events waiting in the outbox (a gauge)
 */
import type { EndpointStats } from '../notifications/counters.js';
import { counter, gauge } from './registry.js';

/** The notifier read at scrapes: the last server made in this process (tests make several). */
let stats: () => EndpointStats[] = () => [];

export function countNotifications(source: () => EndpointStats[]): void {
  stats = source;
  counter({
    name: 'registry_notifications_events_total',
    help: 'The number of total events',
    labelNames: ['type', 'action', 'endpoint'] as const,
    collect() {
      this.reset();
      for (const endpoint of stats()) {
        const labels = { action: 'all', endpoint: endpoint.endpoint };
        this.inc({ ...labels, type: 'Events' }, endpoint.recorded);
        this.inc({ ...labels, type: 'Successes' }, endpoint.delivered);
        this.inc({ ...labels, type: 'Failures' }, endpoint.failures);
        this.inc({ ...labels, type: 'Dropped' }, endpoint.dropped);
      }
    },
  });
  gauge({
    name: 'registry_notifications_pending',
    help: 'The gauge of pending events in queue',
    labelNames: ['endpoint'] as const,
    collect() {
      this.reset();
      for (const endpoint of stats()) this.set({ endpoint: endpoint.endpoint }, endpoint.pending);
    },
  });
}
