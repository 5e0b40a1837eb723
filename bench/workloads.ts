/**
 * The workloads of the table, each run against one registry and returning what it measured.
 * They speak the registry API as clients do and check every answer, so a fast wrong answer
 * fails the run instead of winning a row.
 */
import { curl, expectStatus, fileBody, haveCurl, request, resolveLocation } from './client.js';
import { OCI_MANIFEST, smallImage, type Blob, type SmallImage } from './content.js';
import { loadTest, type LoadResult } from './loadgen.js';
import { memoryOf, type Memory, type RunningServer } from './servers.js';
import { MiB, secondsSince } from './stats.js';
import { open } from 'node:fs/promises';

async function startUpload(base: string, repository: string): Promise<URL> {
  const reply = expectStatus(
    await request(`${base}/v2/${repository}/blobs/uploads/`, { method: 'POST', keepBody: true }),
    202,
    'POST upload',
  );
  return resolveLocation(base, reply);
}

const useCurl = haveCurl();

/** Row 1: POST, then PUT with the whole file as the body. Returns seconds. */
export async function pushMonolithic(
  base: string,
  repository: string,
  file: string,
  size: number,
  digest: string,
): Promise<number> {
  const start = process.hrtime.bigint();
  const location = await startUpload(base, repository);
  location.searchParams.set('digest', digest);
  if (useCurl) {
    // -T sends the file as the PUT body with its Content-Length; Expect off, as registry clients send.
    const result = await curl([
      '-T',
      file,
      '-H',
      'Content-Type: application/octet-stream',
      '-H',
      'Expect:',
      location.href,
    ]);
    if (result.status !== 201) throw new Error(`PUT monolithic blob: expected 201, got ${result.status}`);
    return secondsSince(start);
  }
  const reply = await request(location.href, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': size },
    body: fileBody(file),
    keepBody: true,
  });
  expectStatus(reply, 201, 'PUT monolithic blob');
  return secondsSince(start);
}

/**
 * Row 2: POST, PATCH chunks of `chunk` bytes with Content-Range, then PUT ?digest=. Returns seconds.
 * Like a client that uploads in chunks (containerd, crane), it holds one chunk in memory at a time
 * and reads the next from the file while the current one is sent, so the time per chunk is the
 * registry's and the connection's rather than the client's own reading.
 */
export async function pushChunked(
  base: string,
  repository: string,
  file: string,
  size: number,
  digest: string,
  chunk = 8 * MiB,
): Promise<number> {
  const handle = await open(file, 'r');
  try {
    const buffers = [Buffer.allocUnsafe(chunk), Buffer.allocUnsafe(chunk)];
    const readChunk = async (index: number) => {
      const offset = index * chunk;
      const { bytesRead } = await handle.read(buffers[index % 2]!, 0, Math.min(chunk, size - offset), offset);
      return buffers[index % 2]!.subarray(0, bytesRead);
    };
    const start = process.hrtime.bigint();
    let location = await startUpload(base, repository);
    const count = Math.ceil(size / chunk);
    let next = readChunk(0);
    for (let index = 0; index < count; index++) {
      const body = await next;
      if (index + 1 < count) next = readChunk(index + 1); // into the other buffer, while this one is sent
      const offset = index * chunk;
      const reply = await request(location.href, {
        method: 'PATCH',
        headers: {
          'Content-Type': 'application/octet-stream',
          'Content-Range': `${offset}-${offset + body.length - 1}`,
        },
        body,
        keepBody: true,
      });
      expectStatus(reply, 202, `PATCH chunk at ${offset}`);
      location = resolveLocation(base, reply);
    }
    location.searchParams.set('digest', digest);
    expectStatus(
      await request(location.href, { method: 'PUT', keepBody: true }),
      201,
      'PUT to finish a chunked upload',
    );
    return secondsSince(start);
  } finally {
    await handle.close();
  }
}

/** Row 3: GET of a blob (or a range of it). Returns seconds; checks status and byte count. */
export async function pull(
  base: string,
  repository: string,
  digest: string,
  expectedBytes: number,
  range?: { start: number; end: number },
): Promise<number> {
  const start = process.hrtime.bigint();
  if (useCurl) {
    const result = await curl([
      ...(range ? ['-H', `Range: bytes=${range.start}-${range.end}`] : []),
      `${base}/v2/${repository}/blobs/${digest}`,
    ]);
    if (result.status !== (range ? 206 : 200))
      throw new Error(`GET blob: expected ${range ? 206 : 200}, got ${result.status}`);
    if (result.bytes !== expectedBytes)
      throw new Error(`GET blob: expected ${expectedBytes} bytes, got ${result.bytes}`);
    return secondsSince(start);
  }
  const reply = await request(`${base}/v2/${repository}/blobs/${digest}`, {
    method: 'GET',
    headers: range ? { Range: `bytes=${range.start}-${range.end}` } : {},
  });
  expectStatus(reply, range ? 206 : 200, 'GET blob');
  if (reply.bytes !== expectedBytes) throw new Error(`GET blob: expected ${expectedBytes} bytes, got ${reply.bytes}`);
  return secondsSince(start);
}

/** Row 4: requests per second and latency at `connections` concurrent connections. */
export async function smallRequests(
  base: string,
  kind: 'head-blob' | 'get-manifest',
  repository: string,
  image: SmallImage,
  connections: number,
  seconds: number,
): Promise<LoadResult> {
  const result =
    kind === 'head-blob'
      ? await loadTest({
          url: `${base}/v2/${repository}/blobs/${image.layers[0]!.digest}`,
          method: 'HEAD',
          connections,
          seconds,
        })
      : await loadTest({
          url: `${base}/v2/${repository}/manifests/latest`,
          method: 'GET',
          headers: [`Accept: ${OCI_MANIFEST}`],
          connections,
          seconds,
        });
  if (result.failures > 0)
    throw new Error(`${kind} on ${base}: ${result.failures} requests failed or answered other than 2xx`);
  return result;
}

/** The next-page link of a listing, as a URL, or undefined on the last page. */
function nextPage(base: string, link: string | string[] | undefined): string | undefined {
  const value = Array.isArray(link) ? link[0] : link;
  const match = value && /<([^>]+)>;\s*rel="?next"?/.exec(value);
  return match ? new URL(match[1]!, base).href : undefined;
}

/** Row 5a: every page of /v2/_catalog (n per page). Returns seconds and what was listed. */
export async function listCatalog(
  base: string,
  pageSize: number,
): Promise<{
  seconds: number;
  pages: number;
  repositories: number;
  firstPageSeconds: number;
  slowestPageSeconds: number;
}> {
  const start = process.hrtime.bigint();
  let url: string | undefined = `${base}/v2/_catalog?n=${pageSize}`;
  let pages = 0;
  let repositories = 0;
  let last = '';
  let firstPageSeconds = 0;
  let slowestPageSeconds = 0;
  while (url) {
    const pageStart = process.hrtime.bigint();
    const reply = expectStatus(await request(url, { method: 'GET', keepBody: true }), 200, 'GET _catalog');
    const pageSeconds = secondsSince(pageStart);
    if (pages === 0) firstPageSeconds = pageSeconds;
    slowestPageSeconds = Math.max(slowestPageSeconds, pageSeconds);
    const names = (JSON.parse(reply.body!.toString('utf8')) as { repositories: string[] }).repositories;
    for (const name of names) {
      if (name <= last) throw new Error(`_catalog: "${name}" out of order after "${last}"`);
      last = name;
    }
    repositories += names.length;
    pages++;
    url = nextPage(base, reply.headers.link);
  }
  return { seconds: secondsSince(start), pages, repositories, firstPageSeconds, slowestPageSeconds };
}

/**
 * Rows 5c: one page of /v2/_catalog, `n` names after `last` (from the start without it). Returns
 * seconds; checks that the page holds `expected` names in order, the first right after `last`.
 */
export async function catalogPage(
  base: string,
  pageSize: number,
  last: string | undefined,
  expected: { count: number; first: string },
): Promise<number> {
  const query = new URLSearchParams({ n: String(pageSize), ...(last === undefined ? {} : { last }) });
  const start = process.hrtime.bigint();
  const reply = expectStatus(
    await request(`${base}/v2/_catalog?${query}`, { method: 'GET', keepBody: true }),
    200,
    'GET _catalog page',
  );
  const seconds = secondsSince(start);
  const names = (JSON.parse(reply.body!.toString('utf8')) as { repositories: string[] }).repositories;
  if (names.length !== expected.count || names[0] !== expected.first)
    throw new Error(
      `_catalog after ${last ?? 'the start'}: ${names.length} names from "${names[0]}", expected ${expected.count} from "${expected.first}"`,
    );
  for (let index = 1; index < names.length; index++)
    if (names[index]! <= names[index - 1]!) throw new Error(`_catalog: "${names[index]}" out of order`);
  return seconds;
}

/** Row 5b: one tags/list of a repository, whole. Returns seconds; checks the count. */
export async function listTags(base: string, repository: string, expected: number): Promise<number> {
  const start = process.hrtime.bigint();
  const reply = expectStatus(
    await request(`${base}/v2/${repository}/tags/list`, { method: 'GET', keepBody: true }),
    200,
    'GET tags/list',
  );
  // The answer's time ends with its last byte: checking it is the client's work, not the server's.
  const seconds = secondsSince(start);
  const tags = (JSON.parse(reply.body!.toString('utf8')) as { tags: string[] }).tags;
  if (tags.length !== expected) throw new Error(`tags/list: expected ${expected} tags, got ${tags.length}`);
  return seconds;
}

/** One blob the way docker pushes it: HEAD (absent), POST, PATCH with the body, PUT ?digest=. */
async function pushBlobLikeDocker(base: string, repository: string, blob: Blob): Promise<void> {
  const head = await request(`${base}/v2/${repository}/blobs/${blob.digest}`, { method: 'HEAD' });
  if (head.status === 200) return;
  expectStatus(head, 404, 'HEAD blob before push');
  let location = await startUpload(base, repository);
  const patch = await request(location.href, {
    method: 'PATCH',
    headers: { 'Content-Type': 'application/octet-stream' },
    body: blob.content,
    keepBody: true,
  });
  location = resolveLocation(base, expectStatus(patch, 202, 'PATCH blob'));
  location.searchParams.set('digest', blob.digest);
  expectStatus(await request(location.href, { method: 'PUT', keepBody: true }), 201, 'PUT blob');
}

/** Layer sizes of the CI images: a few small layers, as a typical application image on a base. */
export const CI_LAYERS = [512 * 1024, 256 * 1024, 64 * 1024, 16 * 1024];

/** Row 6: `count` images pushed at once to as many repositories. Returns seconds for all. */
export async function concurrentImagePushes(base: string, prefix: string, count: number): Promise<number> {
  const images = Array.from({ length: count }, () => smallImage(CI_LAYERS));
  const start = process.hrtime.bigint();
  await Promise.all(
    images.map(async (image, index) => {
      const repository = `${prefix}/app${index}`;
      for (const blob of [...image.layers, image.config]) await pushBlobLikeDocker(base, repository, blob);
      const reply = await request(`${base}/v2/${repository}/manifests/build-${index}`, {
        method: 'PUT',
        headers: { 'Content-Type': OCI_MANIFEST },
        body: image.manifest,
        keepBody: true,
      });
      expectStatus(reply, 201, 'PUT manifest');
    }),
  );
  return secondsSince(start);
}

/**
 * Row 7: `count` monolithic pushes of the file at once while the server's resident memory is
 * sampled every 20 ms. Returns the peak of the summed VmRSS (and Pss).
 */
export async function memoryDuringPushes(
  server: RunningServer,
  prefix: string,
  file: string,
  size: number,
  digest: string,
  count: number,
): Promise<Memory> {
  const pids = server.pids();
  const peak: Memory = { rss: 0, hwm: 0, pss: 0 };
  const sample = () => {
    const now = memoryOf(pids);
    peak.rss = Math.max(peak.rss, now.rss);
    peak.pss = Math.max(peak.pss, now.pss);
    peak.hwm = Math.max(peak.hwm, now.hwm);
  };
  const timer = setInterval(sample, 20);
  try {
    await Promise.all(
      Array.from({ length: count }, (_, index) =>
        pushMonolithic(server.url, `${prefix}/p${index}`, file, size, digest),
      ),
    );
  } finally {
    clearInterval(timer);
  }
  sample();
  return peak;
}
