/** `http.net: unix`: the API on a UNIX socket whose path is `http.addr`. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { pino } from 'pino';
import { createBerth } from '../../src/app.js';
import { validateConfig } from '../../src/config/load.js';
import { tempDir } from '../helpers/berth.js';

function overSocket(
  socketPath: string,
  method: string,
  path: string,
): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const outgoing = request({ socketPath, method, path, agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers }));
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

describe('http.net: unix', () => {
  it('serves the API on the socket at http.addr and removes it on close', async () => {
    const folder = tempDir('berth-unix-');
    const socket = join(folder, 'berth.sock');
    try {
      const { config } = validateConfig({
        storage: { filesystem: { rootdirectory: join(folder, 'data') } },
        http: { net: 'unix', addr: socket, relativeurls: true },
      });
      const berth = createBerth(config, pino({ level: 'silent' }));
      const address = await berth.listen();
      assert.deepEqual(address, { host: socket, port: 0 });
      try {
        const base = await overSocket(socket, 'GET', '/v2/');
        assert.equal(base.status, 200);
        assert.equal(base.headers['docker-distribution-api-version'], 'registry/2.0');
        const upload = await overSocket(socket, 'POST', '/v2/over/socket/blobs/uploads/');
        assert.equal(upload.status, 202);
        assert.match(String(upload.headers.location), /^\/v2\/over\/socket\/blobs\/uploads\//);
      } finally {
        await berth.close();
      }
      assert.equal(existsSync(socket), false);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('an empty socket path is refused at load', () => {
    assert.throws(
      () => validateConfig({ storage: { filesystem: null }, http: { net: 'unix', addr: ' ' } }),
      /http\.addr: with net: unix, addr is the path of the socket file/,
    );
  });
});
