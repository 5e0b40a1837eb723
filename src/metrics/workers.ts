/**
 * One scrape, every process: with worker processes (src/cli/workers.ts) each process counts its
 * own requests, so the first process asks every worker for its metrics over the IPC channel
 * `fork` opened, and sums them with its own (prom-client's AggregatorRegistry: counters and
 * histograms add up; each gauge as its family declares, by default the sum). A worker that does
 * not answer within a second is left out of that scrape rather than holding it.
 */
import type { ChildProcess } from 'node:child_process';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import { aggregatorRegistry } from './prom-client.js';
import { metricsRegistry } from './registry.js';

const REQUEST = 'berth:metrics';
const ANSWER = 'berth:metrics-answer';
const ANSWER_TIMEOUT_MS = 1000;

type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];
interface Answer {
  type: typeof ANSWER;
  id: number;
  metrics: MetricsJson;
}

function isAnswer(message: unknown, id: number): message is Answer {
  return (
    typeof message === 'object' &&
    message !== null &&
    (message as Answer).type === ANSWER &&
    (message as Answer).id === id
  );
}

/** In a worker: answers the first process's requests for this process's metrics. */
export function answerMetricsRequests(): void {
  process.on('message', (message: unknown) => {
    const request = message as { type?: string; id?: number };
    if (request?.type !== REQUEST || request.id === undefined || !process.connected) return;
    const id = request.id;
    void metricsRegistry.getMetricsAsJSON().then((metrics) => {
      if (process.connected) process.send!({ type: ANSWER, id, metrics } satisfies Answer);
    });
  });
}

let nextId = 0;

function askWorker(child: ChildProcess): Promise<MetricsJson | undefined> {
  if (!child.connected) return Promise.resolve(undefined);
  const id = ++nextId;
  return new Promise((resolve) => {
    const done = (metrics: MetricsJson | undefined) => {
      clearTimeout(timer);
      child.off('message', listen);
      resolve(metrics);
    };
    const listen = (message: unknown) => {
      if (isAnswer(message, id)) done(message.metrics);
    };
    const timer = setTimeout(() => done(undefined), ANSWER_TIMEOUT_MS);
    child.on('message', listen);
    child.send({ type: REQUEST, id }, (error) => {
      if (error) done(undefined);
    });
  });
}

/** The metrics text of this process and every worker, summed. */
export async function aggregatedMetrics(workers: () => readonly ChildProcess[]): Promise<string> {
  const children = workers();
  if (children.length === 0) return metricsRegistry.metrics();
  const all = await Promise.all([metricsRegistry.getMetricsAsJSON(), ...children.map(askWorker)]);
  return aggregatorRegistry()
    .aggregate(all.filter((metrics): metrics is MetricsJson => metrics !== undefined))
    .metrics();
}
