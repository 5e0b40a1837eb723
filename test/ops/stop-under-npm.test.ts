/**
 * `npm start` stops when told: SIGTERM or SIGINT to the npm process drains the request in flight
 * and frees the port, as `berth serve` itself does (test/ops/shutdown.test.ts); before, npm's
 * shell died of the signal and left `node dist/cli/main.js serve` running, holding the port.
 */
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { tempDir } from '../helpers/berth.js';
import { builtCliIsFresh, serveBerth, waitForExit } from '../helpers/berth-process.js';
import { client } from '../helpers/http.js';
import { describeUnless } from '../helpers/tools.js';

const folder = tempDir('berth-npm-stop-');
after(() => rmSync(folder, { recursive: true, force: true }));

/** A request on a fresh connection: the status, or the connection error's code. */
function freshRequest(url: string): Promise<number | string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const request = httpRequest({ host: hostname, port, path: '/v2/', agent: false }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    request.end();
  });
}

describeUnless(
  builtCliIsFresh() ? false : 'dist/ is older than src/: run npm run build',
  'npm start stops on a signal',
  () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      it(`${signal} to npm: the request in flight completes, then the port is free`, async () => {
        const berth = await serveBerth({
          args: [],
          npmStart: true,
          env: {
            REGISTRY_HTTP_ADDR: '127.0.0.1:0',
            REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: join(folder, signal),
            REGISTRY_LOG_LEVEL: 'info',
          },
        });
        try {
          const api = client(berth.url);
          const start = await api('POST', '/v2/npm/stop/blobs/uploads/');
          assert.equal(start.status, 202);
          const { hostname, port } = new URL(berth.url);
          let patch!: ReturnType<typeof httpRequest>;
          const response = new Promise<IncomingMessage>((resolve, reject) => {
            patch = httpRequest(
              {
                host: hostname,
                port,
                path: new URL(start.header('location')!).pathname,
                method: 'PATCH',
                headers: { 'Content-Type': 'application/octet-stream', 'Transfer-Encoding': 'chunked' },
              },
              resolve,
            );
            patch.on('error', reject);
          });
          patch.write(Buffer.alloc(1024, 1));
          // The request is in flight once its first bytes are stored (bounded wait).
          const uploadPath = new URL(start.header('location')!).pathname;
          for (let attempt = 0; ; attempt++) {
            if ((await api('GET', uploadPath)).header('range') === '0-1023') break;
            assert.ok(attempt < 200, 'the first bytes reached storage');
            await new Promise((resolve) => setTimeout(resolve, 25));
          }
          berth.kill(signal);
          await berth.waitForLine((line) => line.msg === 'stopping: finishing in-flight requests', 'stopping');
          patch.end(Buffer.alloc(1024, 2));
          const reply = await response;
          reply.resume();
          assert.equal(reply.statusCode, 202, 'the request in flight completes');
          assert.equal(reply.headers.range, '0-2047');
          const { code, signal: killedBy } = await waitForExit(berth);
          assert.ok(code !== null || killedBy !== null, 'npm exited');
          // The server under npm is gone too: nothing answers on its port any more.
          let answer: number | string = 0;
          for (let attempt = 0; attempt < 80 && answer !== 'ECONNREFUSED'; attempt++) {
            answer = await freshRequest(berth.url);
            if (answer !== 'ECONNREFUSED') await new Promise((resolve) => setTimeout(resolve, 100));
          }
          assert.equal(answer, 'ECONNREFUSED', `the port is free after ${signal}`);
        } finally {
          berth.kill('SIGKILL');
        }
      });
    }
  },
);
