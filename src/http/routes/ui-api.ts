/**
 * The web UI's JSON endpoints under `/_berth/api/`, for what the `/v2/` API lacks: searching
 * repositories, tags with their sizes, platforms and dates, the caller's rights, bytes stored.
 * Everything else the UI reads through `/v2/` itself. Access is decided in src/auth/access.ts.
 *
 *   GET /_berth/api/session                         {auth, signIn, tokenPath?, service?, registry, deleteEnabled, readOnly}
 *   GET /_berth/api/repositories?q=&prefix=&offset=&n=  {repositories, total, offset}
 *   GET /_berth/api/repositories/<name>/tags?q=&sort=name|natural|pushed&offset=&n=
 *                                                   {name, actions, total, offset, tags: [{tag, digest, …}]}
 *   GET /_berth/api/storage                         {blobs, bytes, repositories, namespaces, tags, computedAt}
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errors, RegistryError } from '../../api/errors.js';
import { isValidName } from '../../api/reference.js';
import { compareTagsNaturally } from '../../api/tag-order.js';
import type { AuthSetup } from '../../auth/settings.js';
import { REPOSITORY_ACTIONS } from '../../auth/rules.js';
import type { Registry } from '../../registry/registry.js';
import type { ImageSummary } from '../../registry/image-summary.js';
import { storageStats } from '../../registry/storage-stats.js';
import { originOf } from '../../request/client.js';
import type { UiApiEndpoint } from '../../request/routes.js';
import type { Settings } from '../context.js';
import type { Endpoint } from '../endpoint.js';

const PAGE_DEFAULT = 100;
const PAGE_MAX = 1000;

export interface UiApiDeps {
  registry: Registry;
  settings: Settings;
  auth?: AuthSetup;
}

export interface TagRow extends Partial<ImageSummary> {
  tag: string;
  /** When the tag was last pushed (ISO time). */
  pushed?: string;
}

function sendJson(reply: FastifyReply, body: unknown): FastifyReply {
  return reply.code(200).header('Cache-Control', 'no-store').type('application/json').send(JSON.stringify(body));
}

function whole(query: URLSearchParams, name: string, fallback: number, max: number): number {
  const raw = query.get(name);
  if (raw === null || raw === '') return fallback;
  if (!/^\d+$/.test(raw))
    throw new RegistryError(
      'UNSUPPORTED',
      `query parameter ${name} must be a non-negative integer, not "${raw}"`,
      { [name]: raw },
      { status: 400 },
    );
  return Math.min(Number(raw), max);
}

function pageOf<T>(items: readonly T[], query: URLSearchParams): { items: T[]; offset: number } {
  const offset = whole(query, 'offset', 0, Number.MAX_SAFE_INTEGER);
  const n = whole(query, 'n', PAGE_DEFAULT, PAGE_MAX);
  return { items: items.slice(offset, offset + n), offset };
}

/** What the caller may do on a repository, as the UI shows it (delete buttons only with `delete`). */
function actionsFor(request: FastifyRequest, name: string, settings: Settings): string[] {
  const granted = request.berth.caller?.actionsOn?.(name);
  // Without rules (auth off, or an external token server Berth has no rules for), the API decides
  // each request; with auth off everything is allowed, with an external server nothing is known.
  let actions: string[];
  if (granted) actions = granted.includes('*') ? [...REPOSITORY_ACTIONS] : [...granted];
  else actions = request.berth.caller ? ['pull'] : [...REPOSITORY_ACTIONS];
  if (!settings.deleteEnabled) actions = actions.filter((action) => action !== 'delete');
  if (settings.readOnly) actions = actions.filter((action) => action === 'pull');
  return actions;
}

export function uiApiEndpoints({ registry, settings, auth }: UiApiDeps): Record<UiApiEndpoint, Endpoint> {
  const session: Endpoint = {
    GET: async (request, reply) => {
      const scheme = auth?.scheme?.kind ?? 'none';
      const tokenServer = auth?.tokenServer;
      // The UI signs in against the built-in token server (or with Basic); an external token
      // server lives on another origin, which the UI never calls.
      const signIn = scheme === 'basic' || (scheme === 'bearer' && tokenServer !== undefined);
      const origin = originOf(request.berth.origin, settings.host);
      return sendJson(reply, {
        auth: scheme,
        signIn,
        ...(tokenServer ? { tokenPath: tokenServer.path, service: tokenServer.services[0] } : {}),
        registry: origin.replace(/^[a-z]+:\/\//, ''),
        secure: origin.startsWith('https:'),
        prefix: settings.prefix,
        deleteEnabled: settings.deleteEnabled,
        readOnly: settings.readOnly,
      });
    },
  };

  const repositories: Endpoint = {
    GET: async (request, reply) => {
      const { query } = request.berth.target;
      const q = (query.get('q') ?? '').toLowerCase();
      const prefix = query.get('prefix') ?? '';
      const visible = request.berth.caller?.mayPull;
      const names = (await registry.catalog.listing()).filter(
        (name) => name.startsWith(prefix) && (q === '' || name.includes(q)) && (!visible || visible(name)),
      );
      const { items, offset } = pageOf(names, query);
      return sendJson(reply, { repositories: items, total: names.length, offset });
    },
  };

  const tags: Endpoint = {
    GET: async (request, reply) => {
      const { route, target } = request.berth;
      const name = route.family === 'ui-api' ? (route.name ?? '') : '';
      if (!isValidName(name)) throw errors.nameInvalid(name);
      if (!(await registry.catalog.exists(name))) throw errors.nameUnknown(name);
      const q = target.query.get('q') ?? '';
      const sort = target.query.get('sort') ?? 'name';
      if (!['name', 'natural', 'pushed'].includes(sort)) {
        throw new RegistryError(
          'UNSUPPORTED',
          `sort must be name, natural or pushed, not "${sort}"`,
          { sort },
          { status: 400 },
        );
      }
      let names = (await registry.tags.list(name)).filter((tag) => q === '' || tag.includes(q));
      let pushedAt: Map<string, Date | undefined> | undefined;
      if (sort === 'natural') names = [...names].sort(compareTagsNaturally);
      if (sort === 'pushed') {
        pushedAt = new Map(
          await Promise.all(names.map(async (tag) => [tag, await registry.tags.pushedAt(name, tag)] as const)),
        );
        names = [...names].sort((a, b) => (pushedAt!.get(b)?.getTime() ?? 0) - (pushedAt!.get(a)?.getTime() ?? 0));
      }
      const { items, offset } = pageOf(names, target.query);
      const rows = await Promise.all(
        items.map(async (tag): Promise<TagRow> => {
          const [digest, pushed] = await Promise.all([
            registry.tags.resolve(name, tag),
            pushedAt?.get(tag) ?? registry.tags.pushedAt(name, tag),
          ]);
          const summary = digest ? await registry.summaries.summary(name, digest) : undefined;
          return { tag, ...summary, ...(pushed ? { pushed: pushed.toISOString() } : {}) };
        }),
      );
      return sendJson(reply, {
        name,
        actions: actionsFor(request, name, settings),
        total: names.length,
        offset,
        tags: rows,
      });
    },
  };

  const storage: Endpoint = {
    GET: async (_request, reply) => sendJson(reply, await storageStats(registry.accounting)),
  };

  return { session, repositories, tags, storage };
}
