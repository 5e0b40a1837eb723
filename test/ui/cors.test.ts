/**
 * A browser UI on another origin (as the UIs people run beside `registry:2` are) reading a
 * registry with auth on: Chromium's fetch with an Authorization header sends a CORS preflight
 * without credentials first. Berth answers it with `http.headers`, so the authenticated fetch
 * goes through; Distribution 2.8 asks the preflight for credentials (401), which the same test
 * records.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { writeHtpasswd } from '../auth/support.js';
import { startBerth, tempFolders, type TestBerth } from '../helpers/berth.js';
import { startDockerRegistry, type TestDockerRegistry } from '../helpers/docker-registry.js';
import { http } from '../helpers/http.js';
import { makeIndex } from '../helpers/manifests.js';
import { describeWithTools, tools } from '../helpers/tools.js';
import { chromiumTool, launchChromium, seedRepositories } from '../helpers/ui.js';

describeWithTools(
  'CORS: an authenticated fetch from a page on another origin',
  [chromiumTool(), tools.distribution()],
  () => {
    const folders = tempFolders();
    let berth: TestBerth;
    let distribution: TestDockerRegistry;
    let page: Server;
    let pageOrigin: string;
    let browser: Browser;
    const credentials = `Basic ${Buffer.from('viewer:secret-pass').toString('base64')}`;

    before(async () => {
      page = createServer((_request, response) => {
        response.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>registry UI</title>');
      });
      await new Promise<void>((resolve) => page.listen(0, '127.0.0.1', resolve));
      // `localhost` and `127.0.0.1` are different origins to a browser.
      pageOrigin = `http://localhost:${(page.address() as AddressInfo).port}`;
      const headers = {
        'Access-Control-Allow-Origin': [pageOrigin],
        'Access-Control-Allow-Methods': ['HEAD', 'GET', 'OPTIONS', 'DELETE'],
        'Access-Control-Allow-Headers': ['Authorization', 'Accept'],
        'Access-Control-Expose-Headers': ['Docker-Content-Digest'],
      };
      const root = folders.make('berth-cors-');
      seedRepositories(root, 'cors', 1);
      const htpasswd = writeHtpasswd(folders.make('berth-cors-auth-'), { viewer: 'secret-pass' });
      [berth, distribution] = await Promise.all([
        startBerth({ root, config: { http: { headers }, auth: { htpasswd: { realm: 'cors', path: htpasswd } } } }),
        startDockerRegistry({ users: { viewer: 'secret-pass' }, config: { http: { headers } } }),
      ]);
      browser = await launchChromium();
    });
    after(async () => {
      await browser?.close();
      await berth?.close();
      await distribution?.close();
      await new Promise((resolve) => page?.close(resolve));
      await folders.removeAll();
    });

    it('reads a manifest and its Docker-Content-Digest with Basic credentials', async () => {
      const context = await browser.newContext();
      const tab = await context.newPage();
      await tab.goto(`${pageOrigin}/`);
      const manifestUrl = `${berth.url}/v2/cors-00000/manifests/latest`;
      const result = await tab.evaluate(
        async ({ url, authorization }) => {
          const accept = 'application/vnd.oci.image.index.v1+json';
          const signedIn = await fetch(url, { headers: { Authorization: authorization, Accept: accept } });
          const anonymous = await fetch(url, { headers: { Accept: accept } });
          return {
            status: signedIn.status,
            digest: signedIn.headers.get('Docker-Content-Digest'),
            body: await signedIn.text(),
            anonymous: anonymous.status,
          };
        },
        { url: manifestUrl, authorization: credentials },
      );
      await context.close();
      const index = makeIndex([]);
      assert.equal(result.status, 200);
      assert.equal(result.digest, index.digest);
      assert.equal(result.body, index.bytes.toString());
      assert.equal(result.anonymous, 401);
    });

    it('lets preflights through the access rules, but not other OPTIONS requests', async () => {
      const preflight = {
        Origin: pageOrigin,
        'Access-Control-Request-Method': 'GET',
        'Access-Control-Request-Headers': 'authorization',
      };
      const path = '/v2/cors-00000/manifests/latest';
      const ours = await http(berth.url, path, { method: 'OPTIONS', headers: preflight });
      assert.equal(ours.status, 200);
      assert.equal(ours.header('access-control-allow-origin'), pageOrigin);
      assert.equal(ours.header('access-control-allow-headers'), 'Authorization, Accept');
      assert.equal(ours.body.length, 0);
      // Distribution 2.8 asks a preflight for the credentials a browser never puts on one.
      const theirs = await http(distribution.url, path, { method: 'OPTIONS', headers: preflight });
      assert.equal(theirs.status, 401);
      // An OPTIONS request that is no preflight is guarded like any other, in both.
      for (const url of [berth.url, distribution.url]) {
        assert.equal((await http(url, path, { method: 'OPTIONS' })).status, 401, url);
        const signedIn = await http(url, path, { method: 'OPTIONS', headers: { Authorization: credentials } });
        assert.equal(signedIn.status, 200, url);
        assert.match(signedIn.header('allow') ?? '', /GET/, url);
      }
    });
  },
);
