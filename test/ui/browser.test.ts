/**
 * The web UI in a real browser (Debian's Chromium, driven by playwright-core) against a real
 * Berth seeded with a multi-platform image, referrers and 10,000 repositories: sign in, search,
 * open an image, check per-platform sizes against the manifests, copy a command, delete a tag
 * while its sibling stays, run garbage collection; a pull-only user sees no delete button and
 * its forged delete is refused; axe-core finds no serious accessibility violation.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startBerth, tempFolders, type TestBerth } from '../helpers/berth.js';
import { pushBlob, pushManifest } from '../helpers/content.js';
import { buildImage, buildIndex, type BuiltImage } from '../helpers/images.js';
import { blobDescriptor, EMPTY_CONFIG, makeArtifact, type Doc } from '../helpers/manifests.js';
import { describeWithTools } from '../helpers/tools.js';
import { chromiumTool, launchChromium, seedRepositories } from '../helpers/ui.js';
import { waitFor } from '../helpers/wait.js';
import { writeHtpasswd } from '../auth/support.js';

const folders = tempFolders();
/** Set BERTH_UI_SCREENSHOTS to a folder to save the screenshots docs/ui.md shows. */
const SCREENSHOTS = process.env.BERTH_UI_SCREENSHOTS;

async function screenshot(page: Page, name: string): Promise<void> {
  if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/${name}.png`, fullPage: true });
}
const USERS = { root: 'root-secret', reader: 'reader-secret' };
const REPOSITORIES = 10_000;

/** What pulling an image transfers, from its manifest: the manifest, config and layers. */
function expectedImageSize(image: BuiltImage): number {
  const manifest = JSON.parse(image.manifest.toString('utf8')) as {
    config: { size: number };
    layers: Array<{ size: number }>;
  };
  return image.manifest.length + manifest.config.size + manifest.layers.reduce((total, layer) => total + layer.size, 0);
}

async function pushImageBlobs(url: string, name: string, image: BuiltImage): Promise<void> {
  for (const blob of image.blobs) await pushBlob(url, name, blob);
  assert.equal((await pushManifest(url, name, image.digest, image.manifest, image.mediaType)).status, 201);
}

async function pushDoc(url: string, name: string, reference: string, doc: Doc): Promise<void> {
  const response = await pushManifest(url, name, reference, doc.bytes, doc.mediaType);
  assert.equal(response.status, 201, await response.text());
}

describeWithTools('the web UI in Chromium', [chromiumTool()], () => {
  let server: TestBerth;
  let open: TestBerth;
  let browser: Browser;
  const images = [
    buildImage({ os: 'linux', architecture: 'amd64', layers: 3, layerSize: 4000, created: '2026-11-02T10:00:00Z' }),
    buildImage({ os: 'linux', architecture: 'arm64', layers: 2, layerSize: 9000, created: '2026-11-02T10:05:00Z' }),
  ];
  const index = buildIndex(images);
  const indexDoc: Doc = { bytes: index.manifest, digest: index.digest, mediaType: index.mediaType };
  const sbomContent = { content: Buffer.from('{"spdxVersion":"SPDX-2.3"}'), digest: '' };
  let sbom: Doc;
  let signature: Doc;

  before(async () => {
    const root = folders.make('berth-ui-');
    const seeding = await startBerth({ root });
    for (const image of images) await pushImageBlobs(seeding.url, 'team/app', image);
    await pushDoc(seeding.url, 'team/app', 'v1', indexDoc);
    await pushDoc(seeding.url, 'team/app', 'v1-copy', indexDoc);
    await pushImageBlobs(seeding.url, 'team/app', images[0]!);
    await pushDoc(seeding.url, 'team/app', 'v2', {
      bytes: images[0]!.manifest,
      digest: images[0]!.digest,
      mediaType: images[0]!.mediaType,
    });
    // Referrers: an SBOM of the index, and a signature of the SBOM.
    const { createHash } = await import('node:crypto');
    sbomContent.digest = `sha256:${createHash('sha256').update(sbomContent.content).digest('hex')}`;
    await pushBlob(seeding.url, 'team/app', EMPTY_CONFIG);
    await pushBlob(seeding.url, 'team/app', sbomContent);
    sbom = makeArtifact({
      artifactType: 'application/spdx+json',
      subject: indexDoc,
      layers: [blobDescriptor(sbomContent, 'application/spdx+json')],
      annotations: { 'org.example.tool': 'syft' },
    });
    signature = makeArtifact({ artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json', subject: sbom });
    await pushDoc(seeding.url, 'team/app', sbom.digest, sbom);
    await pushDoc(seeding.url, 'team/app', signature.digest, signature);
    await seeding.close({ keepRoot: true });
    seedRepositories(root, 'bulk/repo', REPOSITORIES);

    const htpasswd = writeHtpasswd(folders.make('berth-ui-users-'), USERS);
    server = await startBerth({
      root,
      config: {
        berth: {
          auth: {
            htpasswd,
            groups: { admins: ['root'] },
            rules: [
              { groups: ['admins'], registry: ['catalog', 'admin'], repositories: ['**'], actions: ['*'] },
              { users: ['reader'], registry: ['catalog'], repositories: ['**'], actions: ['pull'] },
            ],
          },
        },
      },
    });
    open = await startBerth();
    await pushImageBlobs(open.url, 'open/app', images[1]!);
    await pushDoc(open.url, 'open/app', 'latest', {
      bytes: images[1]!.manifest,
      digest: images[1]!.digest,
      mediaType: images[1]!.mediaType,
    });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    await open?.close();
    await folders.removeAll();
  });

  async function newPage(base: string): Promise<{ context: BrowserContext; page: Page; requests: string[] }> {
    // bypassCSP lets the test inject axe-core; the page's own policy is checked in its own test.
    const context = await browser.newContext({ bypassCSP: true, baseURL: base });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    const page = await context.newPage();
    const requests: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    return { context, page, requests };
  }

  async function signIn(page: Page, user: keyof typeof USERS): Promise<void> {
    await page.goto('/');
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.getByLabel('User name').fill(user);
    await page.getByLabel('Password').fill(USERS[user]);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText(`Signed in as ${user}`).waitFor();
  }

  /** Runs `use` on a fresh page signed in as `user`, closing its context afterwards. */
  async function asUser(user: keyof typeof USERS, use: (page: Page) => Promise<void>): Promise<void> {
    const { context, page } = await newPage(server.url);
    try {
      await signIn(page, user);
      await use(page);
    } finally {
      await context.close();
    }
  }

  async function tagsOf(name: string): Promise<string[]> {
    const token = await fetch(`${server.url}/auth/token?service=berth&scope=repository:${name}:pull`, {
      headers: { Authorization: `Basic ${Buffer.from(`root:${USERS.root}`).toString('base64')}` },
    }).then((response) => response.json() as Promise<{ token: string }>);
    const listed = await fetch(`${server.url}/v2/${name}/tags/list`, {
      headers: { Authorization: `Bearer ${token.token}` },
    });
    return ((await listed.json()) as { tags: string[] }).tags;
  }

  it('signs in, searches 10,000 repositories and opens one', async () => {
    const { context, page, requests } = await newPage(server.url);
    try {
      await signIn(page, 'root');
      await page.getByText(`${REPOSITORIES + 1} repositories`).waitFor();
      await page.getByLabel('Search').fill('repo-0999');
      await page.getByText('10 repositories').waitFor();
      assert.equal(await page.locator('ul.repositories li').count(), 10);
      await screenshot(page, 'repositories');
      await page.getByLabel('Search').fill('team/');
      await page.getByRole('link', { name: 'team/app' }).click();
      await page.locator('tr[data-tag="v1"]').waitFor();
      // Natural order by default: a suffix after "-" sorts before the plain tag, as a pre-release does.
      assert.deepEqual(
        await page
          .locator('table.tags tbody tr')
          .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-tag'))),
        ['v1-copy', 'v1', 'v2'],
      );
      assert.match(await page.locator('tr[data-tag="v1"]').innerText(), /linux\/amd64, linux\/arm64/);
      await screenshot(page, 'tags');
      assert.ok(
        requests.every((url) => url.startsWith(server.url)),
        `every request stays on the registry's origin: ${requests.filter((url) => !url.startsWith(server.url))}`,
      );
    } finally {
      await context.close();
    }
  });

  it('shows each platform of an index with its own size and digest, the referrers and copyable commands', async () => {
    await asUser('root', async (page) => {
      await page.goto('/#/r/team/app/m/v1');
      for (const image of images) {
        const cell = page.locator(`tr[data-digest="${image.digest}"] td[data-size]`);
        await cell.waitFor();
        assert.equal(
          Number(await cell.getAttribute('data-size')),
          expectedImageSize(image),
          `${image.platform.architecture} size`,
        );
      }
      const referrers = page.locator('section[aria-labelledby="referrers-title"]');
      await referrers.getByText('application/spdx+json').waitFor();
      await referrers.getByText('application/vnd.dev.cosign.artifact.sig.v1+json').waitFor();
      assert.match(await referrers.innerText(), /org\.example\.tool\s+syft/);
      await page.getByRole('button', { name: 'Copy the docker command' }).click();
      const copied = await page.evaluate(() => navigator.clipboard.readText());
      assert.equal(copied, `docker pull ${server.host}/team/app:v1`);
      await screenshot(page, 'index');

      await page.goto('/#/r/team/app/m/v2');
      await page.getByRole('heading', { name: 'Layers' }).waitFor();
      assert.equal(await page.locator('section[aria-labelledby="layers-title"] tbody tr').count(), 3);
      assert.match(await page.locator('section[aria-labelledby="config-title"]').innerText(), /linux\/amd64/);
      await page.evaluate(() => localStorage.setItem('berth.theme', 'dark'));
      await page.reload();
      await page.getByRole('heading', { name: 'Layers' }).waitFor();
      await screenshot(page, 'image-dark');
    });
  });

  it('deletes a tag after confirmation while a sibling tag naming the same image stays', async () => {
    await asUser('root', async (page) => {
      await page.goto('/#/r/team/app');
      await page.getByRole('button', { name: 'Delete tag v1-copy' }).click();
      const dialog = page.getByRole('dialog');
      assert.match(await dialog.innerText(), /Tags naming the same image stay: v1/);
      await screenshot(page, 'delete-tag');
      await dialog.getByRole('button', { name: 'Delete tag' }).click();
      await page.getByText('Deleted tag v1-copy.').waitFor();
      assert.deepEqual(await tagsOf('team/app'), ['v1', 'v2']);
    });
  });

  it('shows a pull-only user no delete button, and the API refuses its forged delete', async () => {
    await asUser('reader', async (page) => {
      await page.goto('/#/r/team/app');
      await page.locator('tr[data-tag="v1"]').waitFor();
      assert.equal(await page.getByRole('button', { name: /Delete/ }).count(), 0);
      await page.goto('/#/r/team/app/m/v1');
      await page.getByRole('heading', { name: 'Platforms' }).waitFor();
      assert.equal(await page.getByRole('button', { name: /Delete/ }).count(), 0);
      const status = await page.evaluate(async (password) => {
        const basic = `Basic ${btoa(`reader:${password}`)}`;
        const token = await fetch('/auth/token?service=berth&scope=repository:team/app:delete', {
          headers: { Authorization: basic },
        }).then((response) => response.json());
        const forged = await fetch('/v2/team/app/manifests/v1', {
          method: 'DELETE',
          headers: { Authorization: `Bearer ${token.token}` },
        });
        return forged.status;
      }, USERS.reader);
      assert.equal(status, 401);
      assert.ok((await tagsOf('team/app')).includes('v1'));
    });
  });

  it('shows bytes stored and lets an administrator run garbage collection', async () => {
    await asUser('root', async (page) => {
      await page.goto('/#/storage');
      await page.getByRole('heading', { name: 'Garbage collection' }).waitFor();
      const before = server.berth.gc.status().runs;
      await page.getByRole('button', { name: 'Run now' }).click();
      await waitFor(() => server.berth.gc.status().runs > before, 'the collection the button asked for', {
        timeoutMs: 60_000,
        intervalMs: 100,
      });
      assert.equal(server.berth.gc.status().runs, before + 1);
      assert.ok(Number(await page.locator('dd[data-bytes]').getAttribute('data-bytes')) > 0);
    });
  });

  it('works with auth off: browse and delete without signing in', async () => {
    const { context, page } = await newPage(open.url);
    try {
      await page.goto('/');
      await page.getByRole('link', { name: 'open/app' }).click();
      await page.locator('tr[data-tag="latest"]').waitFor();
      assert.equal(await page.getByRole('link', { name: 'Sign in' }).count(), 0);
      assert.equal(await page.getByRole('button', { name: 'Delete tag latest' }).count(), 1);
    } finally {
      await context.close();
    }
  });

  it('has no serious or critical accessibility violation (axe-core), in both themes', async () => {
    const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
    await asUser('root', async (page) => {
      for (const [path, ready] of [
        ['/#/', 'ul.repositories li'],
        ['/#/r/team/app', 'tr[data-tag="v1"]'],
        ['/#/r/team/app/m/v1', 'td[data-size]'],
        ['/#/r/team/app/m/v2', 'section[aria-labelledby="layers-title"]'],
        ['/#/storage', 'dd[data-bytes]'],
      ] as const) {
        for (const theme of ['light', 'dark']) {
          await page.goto(path);
          await page.evaluate((value) => localStorage.setItem('berth.theme', value), theme);
          await page.reload();
          await page.locator(ready).first().waitFor();
          await page.addScriptTag({ content: axeSource });
          const violations = await page.evaluate(async () => {
            const result = await (
              window as unknown as {
                axe: { run: () => Promise<{ violations: Array<{ id: string; impact: string; nodes: unknown[] }> }> };
              }
            ).axe.run();
            return result.violations
              .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
              .map((violation) => `${violation.id} (${violation.nodes.length})`);
          });
          assert.deepEqual(violations, [], `${path} in the ${theme} theme`);
        }
      }
    });
  });
});
