/**
 * `berth events list|replay [config.yml]`: the notification outbox of the storage a configuration
 * names (docs/notifications.md#the-berth-events-command). `list` shows pending and dead events,
 * oldest first; `replay` moves dead events back to pending, keeping their ids and their place in
 * the order, with a fresh `maxage`, for a running Berth to deliver again. Both work on the storage directly, so they run
 * beside a serving Berth, or with none.
 */
import type { Command } from 'commander';
import { loadConfig } from '../../config/load.js';
import { Outbox, type OutboxEntry, type OutboxState } from '../../notifications/outbox.js';
import { createDriver } from '../../storage/factory.js';
import { io } from '../common.js';

interface EventsOptions {
  endpoint?: string;
  dead?: boolean;
  pending?: boolean;
  json?: boolean;
  id?: string[];
}

function openOutbox(
  configPath: string | undefined,
  chosen: string | undefined,
): { outbox: Outbox; endpoints: string[] } {
  const { config, warnings } = loadConfig(configPath);
  for (const warning of warnings) io.err(`berth: ${warning}\n`);
  const names = (config.notifications?.endpoints ?? []).map((endpoint) => endpoint.name);
  if (chosen !== undefined && !names.includes(chosen)) {
    throw new Error(`no endpoint "${chosen}" in notifications.endpoints (configured: ${names.join(', ') || 'none'})`);
  }
  return { outbox: new Outbox(createDriver(config.storage)), endpoints: chosen === undefined ? names : [chosen] };
}

interface Listed {
  endpoint: string;
  state: OutboxState;
  key: string;
  entry: OutboxEntry;
}

async function listed(outbox: Outbox, endpoints: string[], states: OutboxState[]): Promise<Listed[]> {
  const rows: Listed[] = [];
  for (const endpoint of endpoints) {
    for (const state of states) {
      for (const key of await outbox.keys(endpoint, state)) {
        const entry = await outbox.read(endpoint, state, key);
        if (entry) rows.push({ endpoint, state, key, entry });
      }
    }
  }
  return rows;
}

function describe({ endpoint, state, entry }: Listed): string {
  const { event } = entry;
  const what = event.target.tag
    ? `${event.target.repository}:${event.target.tag}`
    : `${event.target.repository}@${event.target.digest ?? ''}`;
  return [endpoint, state, event.id, event.timestamp, event.action, what].join('\t');
}

async function list(configPath: string | undefined, options: EventsOptions): Promise<void> {
  const { outbox, endpoints } = openOutbox(configPath, options.endpoint);
  const states: OutboxState[] =
    options.dead && !options.pending ? ['dead'] : options.pending && !options.dead ? ['pending'] : ['pending', 'dead'];
  const rows = await listed(outbox, endpoints, states);
  if (options.json) {
    const json = rows.map(({ endpoint, state, key, entry }) => ({
      endpoint,
      state,
      key,
      recordedAt: new Date(entry.recordedAt).toISOString(),
      event: entry.event,
    }));
    io.out(`${JSON.stringify(json, null, 2)}\n`);
    return;
  }
  for (const row of rows) io.out(`${describe(row)}\n`);
  const count = (state: OutboxState) => rows.filter((row) => row.state === state).length;
  io.err(`${count('pending')} pending, ${count('dead')} dead\n`);
}

async function replay(configPath: string | undefined, options: EventsOptions): Promise<void> {
  const { outbox, endpoints } = openOutbox(configPath, options.endpoint);
  const ids = options.id && options.id.length > 0 ? new Set(options.id) : undefined;
  let moved = 0;
  for (const row of await listed(outbox, endpoints, ['dead'])) {
    if (ids && !ids.has(row.entry.event.id)) continue;
    if (await outbox.replay(row.endpoint, row.key)) moved += 1;
  }
  io.err(`${moved} dead event${moved === 1 ? '' : 's'} queued for delivery again\n`);
}

export function registerEvents(program: Command): void {
  const events = program
    .command('events')
    .description('the notification outbox: list pending and dead events, replay dead ones');
  events
    .command('list')
    .description('list pending and dead events, oldest first (endpoint, state, id, time, action, target)')
    .argument('[config]', 'Distribution-format config.yml (default: the built-in configuration)')
    .option('--endpoint <name>', 'only this endpoint')
    .option('--pending', 'only events waiting for delivery')
    .option('--dead', 'only events given up on (dead letters)')
    .option('--json', 'print the events themselves, as JSON')
    .action((config: string | undefined, options: EventsOptions) => list(config, options));
  events
    .command('replay')
    .description('queue dead events for delivery again (all, or those named with --id)')
    .argument('[config]', 'Distribution-format config.yml (default: the built-in configuration)')
    .option('--endpoint <name>', 'only this endpoint')
    .option('--id <id...>', 'only the events with these ids')
    .action((config: string | undefined, options: EventsOptions) => replay(config, options));
}
