/**
 * The web UI's page (`berth.ui.path`, `/` by default) and its two assets under `/_berth/ui/`
 * (docs/ui.md). The page is a small shell; the script (src/ui/app, built into dist/ui/assets by
 * `npm run build`) reads the registry through `/v2/` and `/_berth/api/`. A Content-Security-Policy
 * keeps every request on the registry's own origin: no CDN, font or analytics can be loaded.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { UI_ASSETS_PATH } from '../../request/routes.js';
import { RegistryError } from '../../api/errors.js';
import { UI_OUTDIR } from '../../ui/assets.js';
import type { Endpoint } from '../endpoint.js';

const CONTENT_TYPES: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

interface Asset {
  body: Buffer;
  version: string;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

export interface UiPageSettings {
  /** `http.prefix` without its trailing slash. */
  prefix: string;
  /** Where the built assets are (dist/ui/assets unless a test builds elsewhere). */
  assetsDir?: string;
}

export function uiEndpoint({ prefix, assetsDir = UI_OUTDIR }: UiPageSettings): Endpoint {
  const assets = new Map<string, Promise<Asset | undefined>>();
  // Read once, on first use: the bundle is built before the server starts and does not change.
  const asset = (name: string) => {
    let loading = assets.get(name);
    if (!loading) {
      loading = readFile(`${assetsDir}/${name}`).then(
        (body) => ({ body, version: createHash('sha256').update(body).digest('hex').slice(0, 12) }),
        () => undefined,
      );
      assets.set(name, loading);
    }
    return loading;
  };
  const base = `${prefix}${UI_ASSETS_PATH}`;

  async function page(reply: FastifyReply, withBody: boolean): Promise<FastifyReply> {
    const [script, style] = await Promise.all([asset('app.js'), asset('app.css')]);
    reply.headers(SECURITY_HEADERS).header('Cache-Control', 'no-cache').type('text/html; charset=utf-8');
    if (!script || !style) {
      const text =
        'The web UI is not built: run "npm run build" (it writes dist/ui/assets), or set berth.ui.enabled: false.';
      return reply.code(503).send(withBody ? text : undefined);
    }
    const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="berth-api-prefix" content="${escapeHtml(prefix)}">
<title>Berth registry</title>
<link rel="stylesheet" href="${base}/app.css?v=${style.version}">
<script type="module" src="${base}/app.js?v=${script.version}"></script>
</head>
<body>
<div id="app"><noscript>The Berth web UI needs JavaScript. The registry API is at <code>${escapeHtml(prefix)}/v2/</code>.</noscript></div>
</body>
</html>
`;
    return reply.code(200).send(withBody ? html : undefined);
  }

  const serve = async (request: FastifyRequest, reply: FastifyReply) => {
    const route = request.berth.route;
    const name = route.family === 'ui' ? route.asset : 'index';
    if (name === 'index') return page(reply, request.method !== 'HEAD');
    const type = Object.hasOwn(CONTENT_TYPES, name) ? CONTENT_TYPES[name] : undefined;
    const found = type ? await asset(name) : undefined;
    if (!type || !found)
      throw new RegistryError('UNSUPPORTED', `no UI asset ${name}`, { asset: name }, { status: 404 });
    // Asset URLs carry the content's hash, so a browser may keep them for good.
    return reply
      .headers(SECURITY_HEADERS)
      .header('Cache-Control', 'public, max-age=31536000, immutable')
      .type(type)
      .send(found.body);
  };
  return { GET: serve, HEAD: serve };
}
