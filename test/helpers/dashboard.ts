/** The Grafana dashboard in the repository (dashboards/grafana-berth.json): its queries and the metrics they name. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './berth-process.js';

interface Dashboard {
  panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
}

export function dashboardQueries(): Array<{ panel: string; expr: string }> {
  const dashboard = JSON.parse(readFileSync(join(REPO_ROOT, 'dashboards', 'grafana-berth.json'), 'utf8')) as Dashboard;
  return dashboard.panels.flatMap((panel) =>
    panel.targets.map((target) => ({ panel: panel.title, expr: target.expr })),
  );
}

/** A query as Prometheus takes it: Grafana's variables replaced. */
export function asPromQL(expr: string): string {
  return expr.replaceAll('$__rate_interval', '1m').replaceAll('$job', '.*');
}

/** Metric names in a query: identifiers of Berth's and Distribution's families and the process metrics. */
export function metricNames(expr: string): string[] {
  return [...new Set(expr.match(/\b(?:registry|berth|nodejs|process)_[a-zA-Z0-9_]+/g) ?? [])];
}
