/**
 * HTTPS from `http.tls`: certificate and key, client certificates (`clientcas`, `clientauth`),
 * `minimumtls` and `ciphersuites`; and start-up refusing TLS settings it cannot honour.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { request as httpRequest } from 'node:http';
import { rmSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import { pino } from 'pino';
import { createBerth } from '../../src/app.js';
import { ConfigError, validateConfig } from '../../src/config/load.js';
import { startBerth, tempDir, type TestBerth } from '../helpers/berth.js';
import { describeWithTools } from '../helpers/tools.js';
import { makeCertificates, openssl, type Pem, type TestCertificates } from './certs.js';

interface TlsReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  protocol: string | null;
  cipher: string;
}

/** One HTTPS request on a fresh connection; rejects when the handshake or the request fails. */
function httpsGet(
  port: number,
  path: string,
  options: RequestOptions & { client?: Pem } = {},
  method = 'GET',
): Promise<TlsReply> {
  const { client, ...rest } = options;
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      { host: '127.0.0.1', port, path, method, agent: false, cert: client?.cert, key: client?.key, ...rest },
      (response) => {
        const socket = response.socket as TLSSocket;
        const protocol = socket.getProtocol();
        const cipher = socket.getCipher().name;
        response.resume();
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, protocol, cipher }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end();
  });
}

function plainGet(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: '127.0.0.1', port, path, agent: false }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', reject);
    request.setTimeout(5000, () => request.destroy(new Error('no answer')));
    request.end();
  });
}

describeWithTools('HTTPS', [openssl()], () => {
  let folder: string;
  let certs: TestCertificates;
  before(() => {
    folder = tempDir('berth-tls-');
    certs = makeCertificates(folder);
  });
  after(() => rmSync(folder, { recursive: true, force: true }));

  async function withServer(
    tls: Record<string, unknown>,
    body: (port: number, ca: Buffer) => Promise<void>,
  ): Promise<void> {
    const server: TestBerth = await startBerth({
      config: { http: { tls: { certificate: certs.server.certFile, key: certs.server.keyFile, ...tls } } },
    });
    try {
      await body(Number(server.host.split(':')[1]), certs.server.cert);
    } finally {
      await server.close();
    }
  }

  it('serves the API over HTTPS when certificate and key are set; Location headers say https', async () => {
    await withServer({}, async (port, ca) => {
      const base = await httpsGet(port, '/v2/', { ca });
      assert.equal(base.status, 200);
      assert.equal(base.headers['docker-distribution-api-version'], 'registry/2.0');
      assert.equal(base.protocol, 'TLSv1.3');
      const upload = await httpsGet(port, '/v2/tls/test/blobs/uploads/', { ca }, 'POST');
      assert.equal(upload.status, 202);
      assert.match(
        String(upload.headers.location),
        new RegExp(`^https://127\\.0\\.0\\.1:${port}/v2/tls/test/blobs/uploads/`),
      );
      await assert.rejects(httpsGet(port, '/v2/', {}), 'a client that does not trust the certificate is refused');
      await assert.rejects(plainGet(port, '/v2/'), 'plain HTTP gets no answer on the HTTPS port');
    });
  });

  it('minimumtls tls1.3 refuses TLS 1.2 clients; by default TLS 1.2 is accepted', async () => {
    await withServer({ minimumtls: 'tls1.3' }, async (port, ca) => {
      await assert.rejects(httpsGet(port, '/v2/', { ca, maxVersion: 'TLSv1.2' }));
      assert.equal((await httpsGet(port, '/v2/', { ca })).protocol, 'TLSv1.3');
    });
    await withServer({}, async (port, ca) => {
      const reply = await httpsGet(port, '/v2/', { ca, maxVersion: 'TLSv1.2' });
      assert.equal(reply.status, 200);
      assert.equal(reply.protocol, 'TLSv1.2');
    });
  });

  it('ciphersuites limits the TLS 1.2 suites to the ones listed, by their Go names', async () => {
    await withServer({ ciphersuites: ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'] }, async (port, ca) => {
      const reply = await httpsGet(port, '/v2/', { ca, maxVersion: 'TLSv1.2' });
      assert.equal(reply.cipher, 'ECDHE-ECDSA-AES128-GCM-SHA256');
      await assert.rejects(
        httpsGet(port, '/v2/', { ca, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384' }),
      );
      assert.equal((await httpsGet(port, '/v2/', { ca })).status, 200, 'TLS 1.3 suites stay available, as in Go');
    });
  });

  it('clientcas requires a client certificate signed by one of the CAs (require-and-verify-client-cert)', async () => {
    await withServer({ clientcas: [certs.ca.certFile] }, async (port, ca) => {
      assert.equal((await httpsGet(port, '/v2/', { ca, client: certs.client })).status, 200);
      await assert.rejects(httpsGet(port, '/v2/', { ca }), 'no client certificate');
      await assert.rejects(httpsGet(port, '/v2/', { ca, client: certs.rogueClient }), 'a certificate no CA signed');
    });
  });

  it('clientauth verify-client-cert-if-given lets clients without a certificate in, but not with a bad one', async () => {
    await withServer(
      { clientcas: [certs.ca.certFile], clientauth: 'verify-client-cert-if-given' },
      async (port, ca) => {
        assert.equal((await httpsGet(port, '/v2/', { ca })).status, 200);
        assert.equal((await httpsGet(port, '/v2/', { ca, client: certs.client })).status, 200);
        await assert.rejects(httpsGet(port, '/v2/', { ca, client: certs.rogueClient }));
      },
    );
  });

  it('clientauth require-any-client-cert wants a certificate but does not verify it', async () => {
    await withServer({ clientcas: [certs.ca.certFile], clientauth: 'require-any-client-cert' }, async (port, ca) => {
      await assert.rejects(httpsGet(port, '/v2/', { ca }));
      assert.equal((await httpsGet(port, '/v2/', { ca, client: certs.rogueClient })).status, 200);
    });
  });

  it('start-up refuses unreadable files and TLS settings without a certificate, naming the key', () => {
    const root = tempDir('berth-tls-root-');
    const build = (tls: Record<string, unknown>) => () =>
      createBerth(
        validateConfig({ storage: { filesystem: { rootdirectory: root } }, http: { addr: '127.0.0.1:0', tls } }).config,
        pino({ level: 'silent' }),
      );
    try {
      assert.throws(
        build({ certificate: `${folder}/missing.crt`, key: certs.server.keyFile }),
        (error: Error) => error instanceof ConfigError && /^http\.tls\.certificate: cannot read/.test(error.message),
      );
      assert.throws(
        build({
          certificate: certs.server.certFile,
          key: certs.server.keyFile,
          clientcas: [`${folder}/missing-ca.pem`],
        }),
        /http\.tls\.clientcas\.0: cannot read/,
      );
      assert.throws(
        build({ certificate: certs.server.certFile }),
        /http\.tls\.key: required with http\.tls\.certificate/,
      );
      assert.throws(
        build({ clientcas: [certs.ca.certFile] }),
        /http\.tls\.clientcas needs http\.tls\.certificate and http\.tls\.key/,
      );
      assert.throws(
        build({ certificate: certs.server.certFile, key: certs.ca.keyFile }),
        /http\.tls: the certificate, key or cipher suites are not usable/,
      );
      assert.throws(
        build({ letsencrypt: { cachefile: '/tmp/cache', email: 'a@example.com' } }),
        /http\.tls\.letsencrypt: Let's Encrypt certificates are not supported/,
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('TLS settings in the configuration', () => {
  it('a cipher suite name Go does not know is refused at load, naming the entry', () => {
    assert.throws(
      () =>
        validateConfig({
          storage: { filesystem: null },
          http: { tls: { ciphersuites: ['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'AES128-SHA'] } },
        }),
      (error: Error) => error instanceof ConfigError && /http\.tls\.ciphersuites\.1:/.test(error.message),
    );
  });
});
