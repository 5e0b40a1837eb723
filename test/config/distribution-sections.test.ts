/**
 * Distribution's `validation`, `middleware.storage` redirect, `storage.redirect.disable` and
 * `compatibility` sections, and Debian's packaged htpasswd path, each beside Distribution
 * (Debian's `docker-registry`) where it has the behaviour.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { createBerth } from '../../src/app.js';
import { ConfigError, validateConfig } from '../../src/config/load.js';
import { startBerth, tempFolders } from '../helpers/berth.js';
import {
  DOCKER_CONFIG,
  DOCKER_MANIFEST,
  jsonBlob,
  OCI_CONFIG,
  OCI_MANIFEST,
  pushBlob,
  pushManifest,
  randomBlob,
} from '../helpers/content.js';
import { startDockerRegistry } from '../helpers/docker-registry.js';
import { describeWithTools, tools } from '../helpers/tools.js';

const config = jsonBlob({ architecture: 'amd64', os: 'windows', rootfs: { type: 'layers', diff_ids: [] } });
const FOREIGN = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip';
const NONDISTRIBUTABLE = 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip';
const layer = (mediaType: string, urls?: string[]) => ({
  mediaType,
  size: 1234,
  digest: `sha256:${'ab'.repeat(32)}`,
  ...(urls ? { urls } : {}),
});
function manifest(kind: 'docker' | 'oci', urls?: string[]): { body: Buffer; mediaType: string } {
  const mediaType = kind === 'docker' ? DOCKER_MANIFEST : OCI_MANIFEST;
  const configType = kind === 'docker' ? DOCKER_CONFIG : OCI_CONFIG;
  const body = {
    schemaVersion: 2,
    mediaType,
    config: { mediaType: configType, size: config.content.length, digest: config.digest },
    layers: [layer(kind === 'docker' ? FOREIGN : NONDISTRIBUTABLE, urls)],
  };
  return { body: Buffer.from(JSON.stringify(body)), mediaType };
}

const PUSHES: Array<[string, { body: Buffer; mediaType: string }]> = [
  ['foreign layer without urls', manifest('docker')],
  ['foreign layer, allowed host', manifest('docker', ['https://allowed.example/layer'])],
  ['foreign layer, other host', manifest('docker', ['https://other.example/layer'])],
  ['foreign layer, denied host', manifest('docker', ['https://denied.example/layer'])],
  ['foreign layer, ftp', manifest('docker', ['ftp://allowed.example/layer'])],
  ['non-distributable layer, allowed host', manifest('oci', ['https://allowed.example/layer'])],
  ['non-distributable layer, other host', manifest('oci', ['https://other.example/layer'])],
];

const VALIDATION: Record<string, Record<string, unknown>> = {
  'no validation section': {},
  'allow one host': { validation: { manifests: { urls: { allow: ['^https://allowed\\.example/'] } } } },
  'allow https, deny one host': {
    validation: { manifests: { urls: { allow: ['^https://'], deny: ['^https://denied\\.example/'] } } },
  },
  'validation disabled': {
    validation: { disabled: true, manifests: { urls: { allow: ['^https://allowed\\.example/'] } } },
  },
};

describeWithTools('validation.manifests.urls, beside Distribution', [tools.distribution()], () => {
  for (const [name, settings] of Object.entries(VALIDATION)) {
    it(`accepts the manifests Distribution accepts: ${name}`, async () => {
      const [berth, distribution] = await Promise.all([
        startBerth({ config: settings }),
        startDockerRegistry({ config: settings }),
      ]);
      try {
        const accepted: Record<string, string[]> = { berth: [], distribution: [] };
        for (const [server, url] of [
          ['berth', berth.url],
          ['distribution', distribution.url],
        ] as const) {
          await pushBlob(url, 'valid/urls', config);
          for (const [what, { body, mediaType }] of PUSHES) {
            const reply = await pushManifest(url, 'valid/urls', 'v1', body, mediaType);
            if (reply.status === 201) accepted[server]!.push(what);
            else if (server === 'berth') {
              // Distribution 2.8 answers 500 here; Berth says what is wrong with the manifest.
              assert.equal(reply.status, 400, what);
              const envelope = (await reply.json()) as { errors: Array<{ code: string }> };
              assert.equal(envelope.errors[0]!.code, 'MANIFEST_INVALID', what);
            } else assert.ok(reply.status >= 400, `${what}: ${reply.status}`);
          }
        }
        assert.deepEqual(accepted.berth, accepted.distribution);
      } finally {
        await berth.close();
        await distribution.close();
      }
    });
  }

  it('stops start-up on an allow pattern that is not a regular expression', () => {
    assert.throws(
      () => validateConfig({ storage: { filesystem: {} }, validation: { manifests: { urls: { allow: ['(open'] } } } }),
      (error: Error) =>
        error instanceof ConfigError &&
        /validation\.manifests\.urls\.allow\.0: not a regular expression/.test(error.message),
    );
  });
});

describeWithTools(
  'middleware.storage redirect and storage.redirect.disable, beside Distribution',
  [tools.distribution()],
  () => {
    const redirect = {
      middleware: { storage: [{ name: 'redirect', options: { baseurl: 'http://cdn.example.test:8080/' } }] },
    };
    const cases: Array<[string, Record<string, unknown>, number]> = [
      ['the redirect middleware', redirect, 307],
      [
        'the redirect middleware with storage.redirect.disable',
        { ...redirect, storage: { redirect: { disable: true } } },
        200,
      ],
    ];
    for (const [what, settings, status] of cases) {
      it(`${what}: GET of a blob answers ${status}`, async () => {
        const [berth, distribution] = await Promise.all([
          startBerth({ config: settings }),
          startDockerRegistry({ config: settings }),
        ]);
        try {
          const blob = randomBlob(300);
          const locations: string[] = [];
          for (const url of [berth.url, distribution.url]) {
            await pushBlob(url, 'cdn/repo', blob);
            const reply = await fetch(`${url}/v2/cdn/repo/blobs/${blob.digest}`, { redirect: 'manual' });
            assert.equal(reply.status, status, url);
            if (status === 307) locations.push(reply.headers.get('location')!);
            else assert.deepEqual(Buffer.from(await reply.arrayBuffer()), blob.content);
          }
          if (status === 307) {
            const hex = blob.digest.slice('sha256:'.length);
            assert.equal(
              locations[0],
              `http://cdn.example.test:8080/docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`,
            );
            assert.equal(locations[0], locations[1]);
          }
        } finally {
          await berth.close();
          await distribution.close();
        }
      });
    }
  },
);

describe('compatibility and the htpasswd path', () => {
  const folders = tempFolders();
  after(() => folders.removeAll());

  it('refuses compatibility.schema1.enabled: true, saying schema 1 is gone', () => {
    assert.throws(
      () => validateConfig({ storage: { filesystem: {} }, compatibility: { schema1: { enabled: true } } }),
      (error: Error) =>
        error instanceof ConfigError &&
        /compatibility\.schema1: Berth does not serve schema 1 manifests \(nor does Distribution 3\)/.test(
          error.message,
        ),
    );
    const { warnings } = validateConfig({
      storage: { filesystem: {} },
      compatibility: { schema1: { enabled: false } },
    });
    assert.deepEqual(warnings, []);
  });

  it('accepts tags and reporting with a warning that says they have no effect', () => {
    const { warnings } = validateConfig({
      storage: { filesystem: {} },
      tags: { concurrencylimit: 8 },
      reporting: { bugsnag: { apikey: 'x' } },
    });
    assert.ok(
      warnings.some((warning) => /"tags" is ignored: .*concurrencylimit/.test(warning)),
      warnings.join('\n'),
    );
    assert.ok(
      warnings.some((warning) => /"reporting" is ignored/.test(warning)),
      warnings.join('\n'),
    );
  });

  it("explains an htpasswd path that is a directory (Debian's packaged config.yml)", () => {
    const folder = folders.make('berth-htpasswd-dir-');
    const directory = join(folder, 'registry');
    mkdirSync(directory);
    const { config: settings } = validateConfig({
      storage: { filesystem: { rootdirectory: join(folder, 'data') } },
      auth: { htpasswd: { realm: 'basic-realm', path: directory } },
    });
    assert.throws(
      () => createBerth(settings, pino({ level: 'silent' })),
      (error: Error) =>
        error instanceof ConfigError &&
        error.message.includes(`htpasswd path ${directory} is a directory, not an htpasswd file`) &&
        error.message.includes(`berth htpasswd add ${directory}/htpasswd USER`) &&
        !error.message.includes('EISDIR'),
    );
  });
});
