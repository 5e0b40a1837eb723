/**
 * The README's curl examples ("Talking to it"), run verbatim by bash against a real Berth holding
 * an `nginx:latest` image (Docker v2 schema 2). Only `localhost:5000` becomes the test server's
 * address and `<digest>` (which the reader fills in) a blob of that image. The statuses and
 * bodies each command prints are checked.
 *
 * Around the verbatim lines, the script gets a prologue and an epilogue:
 * - a DEBUG trap that prints a marker before each top-level command, to split the output;
 * - a `curl` function that adds `--max-time` to `curl -X HEAD` only, as a safety net. With
 *   `-X HEAD`, curl sends HEAD but reads the response as a GET's, so it waits for the
 *   Content-Length bytes that a HEAD response never carries. Berth closes the connection after a
 *   HEAD answer to curl, so curl stops at once with exit 18 ("transfer closed"), which the test
 *   expects, instead of waiting for the keep-alive timeout (72 s).
 * - an `echo` of the DIGEST variable the README's DIGEST=$(...) line sets.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startBerth, type TestBerth } from '../helpers/berth.js';
import { DOCKER_MANIFEST, makeImage, pushImage, type Image } from '../helpers/content.js';
import { describeWithTools, run, tools } from '../helpers/tools.js';

const README = fileURLToPath(new URL('../../README.md', import.meta.url));
const MARKER = '@@@ ';
const HEAD_MAX_SECONDS = 3;

/** The first ```sh block after the "## Talking to it" heading. */
function readmeExamples(): string {
  const readme = readFileSync(README, 'utf8');
  const section = readme.indexOf('## Talking to it');
  assert.notEqual(section, -1, 'README has a "Talking to it" section');
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(section));
  assert.ok(block, 'the section has a sh code block');
  return block[1]!;
}

const PROLOGUE = `
trap 'printf "\\n${MARKER}%s\\n" "$BASH_COMMAND"' DEBUG
curl() {
  case " $* " in
    *" -X HEAD "*) command curl --max-time ${HEAD_MAX_SECONDS} "$@" ;;
    *) command curl "$@" ;;
  esac
}
`;

const EPILOGUE = `
echo "DIGEST=\${DIGEST}"
`;

interface Step {
  command: string;
  output: string;
}

function splitSteps(stdout: string): Step[] {
  return stdout
    .split(`\n${MARKER}`)
    .slice(1)
    .map((chunk) => {
      const newline = chunk.indexOf('\n');
      return { command: chunk.slice(0, newline), output: chunk.slice(newline + 1) };
    });
}

/** The status code of the last HTTP status line in an output (curl -i prints one per response). */
function statusOf(output: string): number | undefined {
  const lines = [...output.matchAll(/^HTTP\/[\d.]+ (\d{3})/gm)];
  const last = lines[lines.length - 1];
  return last ? Number(last[1]) : undefined;
}

function bodyOf(output: string): string {
  const end = output.indexOf('\r\n\r\n');
  return end === -1 ? '' : output.slice(end + 4);
}

describeWithTools('README curl examples', [tools.curl(), tools.bash()], () => {
  let berth: TestBerth;
  let image: Image;
  before(async () => {
    berth = await startBerth();
    image = makeImage({ mediaType: DOCKER_MANIFEST, layers: 1 });
    await pushImage(berth.url, 'nginx', 'latest', image);
  });
  after(() => berth.close());

  it('run verbatim, they print the documented statuses', async (t) => {
    const examples = readmeExamples();
    assert.match(examples, /localhost:5000/);
    const script = [
      PROLOGUE,
      examples.replaceAll('localhost:5000', berth.host).replaceAll('<digest>', image.config.digest),
      EPILOGUE,
    ].join('\n');
    const result = await run('bash', ['-c', script], { timeout: 60_000 });
    const notes = result.stderr.split('\n').filter((line) => /^(curl|Warning):/.test(line));
    t.diagnostic(`curl's warnings and errors: ${notes.join(' / ')}`);
    const steps = splitSteps(result.stdout);
    const find = (pattern: RegExp) => {
      const step = steps.find((candidate) => pattern.test(candidate.command));
      assert.ok(step, `a step matching ${pattern} ran; steps: ${steps.map((s) => s.command).join(' | ')}`);
      return step;
    };
    const base = `http://${berth.host}`;

    const version = find(new RegExp(`^curl -i ${base}/v2/$`));
    assert.equal(statusOf(version.output), 200);
    assert.match(version.output, /^docker-distribution-api-version: registry\/2\.0\r$/im);
    assert.equal(bodyOf(version.output), '{}');

    const catalog = find(/\/v2\/_catalog$/);
    assert.equal(statusOf(catalog.output), 200);
    assert.deepEqual(JSON.parse(bodyOf(catalog.output)), { repositories: ['nginx'] });

    const tags = find(/\/v2\/nginx\/tags\/list$/);
    assert.equal(statusOf(tags.output), 200);
    assert.deepEqual(JSON.parse(bodyOf(tags.output)), { name: 'nginx', tags: ['latest'] });

    const manifest = find(/^curl -i -H .*\/v2\/nginx\/manifests\/latest$/);
    assert.equal(statusOf(manifest.output), 200);
    assert.match(manifest.output, new RegExp(`^docker-content-digest: ${image.digest}\r$`, 'im'));
    assert.match(
      manifest.output,
      new RegExp(`^content-type: ${DOCKER_MANIFEST.replaceAll('.', '\\.').replaceAll('+', '\\+')}\r$`, 'im'),
    );
    assert.equal(bodyOf(manifest.output), image.manifest.toString('utf8'));

    const digest = find(/^echo "DIGEST=/);
    assert.equal(digest.output.trim(), `DIGEST=${image.digest}`, 'the DIGEST=$(...) line captures the manifest digest');

    const deletion = find(/^curl -i -X DELETE /);
    assert.equal(statusOf(deletion.output), 202);

    const blob = find(/^curl -i http:.*\/blobs\/sha256:/);
    assert.equal(statusOf(blob.output), 200);
    assert.equal(bodyOf(blob.output), image.config.content.toString('utf8'));

    const head = find(/^curl -i -X HEAD /);
    assert.equal(statusOf(head.output), 200);
    assert.match(head.output, new RegExp(`^content-length: ${image.config.content.length}\r$`, 'im'));
    assert.match(head.output, new RegExp(`^docker-content-digest: ${image.config.digest}\r$`, 'im'));
    assert.equal(bodyOf(head.output), '');
    // The server drops the connection after the headers (18), long before --max-time (28).
    assert.match(result.stderr, /curl: \(18\)/, 'curl -X HEAD ends as soon as the headers are in');
    assert.doesNotMatch(result.stderr, /curl: \(28\)/);

    // After the README's DELETE the image is gone, as the example intends.
    const after = await fetch(`${berth.url}/v2/nginx/manifests/latest`, { headers: { Accept: DOCKER_MANIFEST } });
    await after.arrayBuffer();
    assert.equal(after.status, 404);
  });
});
