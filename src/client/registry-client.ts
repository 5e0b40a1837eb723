/**
 * `RegistryClient`: a typed client of one registry's `/v2/` API (OCI Distribution Spec, Docker Registry
 * HTTP API V2). It authenticates by itself (Basic or Bearer, tokens cached per scope), follows
 * `Link` pagination, retries idempotent requests on transient failures, streams blobs both ways and
 * verifies the digest of everything it downloads.
 *
 *     const registry = new RegistryClient('localhost:5000');
 *     for await (const tag of registry.listTags('team/app')) console.log(tag);
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isDigestReference } from '../api/reference.js';
import { apiPaths } from '../api/routes.js';
import { Authenticator, scopes as scope, type Credentials } from './auth.js';
import { BlobUploader, type BlobSource, type UploadOptions, type UploadResult } from './blob-upload.js';
import type { CallOptions } from './calls.js';
import { CredentialStore } from './credentials.js';
import { DigestVerifier, digestAlgorithm, digestString, verifyBytes } from './digest.js';
import { ClientError, errorFromResponse, withRetryAfter } from './errors.js';
import { nextPage } from './pagination.js';
import { refusalHint } from './refusal.js';
import { normalizeRegistryHost, registryBaseUrl } from './reference.js';
import { Transport, SMALL_BODY_LIMIT, type TransportOptions, type TransportResponse } from './transport.js';
import {
  MANIFEST_ACCEPT,
  manifestMediaType,
  type ContentInfo,
  type Descriptor,
  type FetchedManifest,
  type ImageIndex,
  type Manifest,
} from './types.js';

export interface RegistryClientOptions extends TransportOptions {
  /** Speak plain HTTP (true) or HTTPS (false); by default HTTP for loopback hosts only, like docker. */
  plainHttp?: boolean;
  /**
   * Credentials: fixed ones, a Docker config file to read them from, or false for anonymous
   * access. By default they are read from Docker's config.json (`$DOCKER_CONFIG` honoured).
   */
  credentials?: Credentials | CredentialStore | false;
  /** Size of the pieces of a chunked upload (default 8 MiB). */
  chunkSize?: number;
  /** Share one transport (connection pools) between several registries. */
  transport?: Transport;
}

export interface PageOptions {
  /** Entries per request (`n`); the registry's default when absent. */
  pageSize?: number;
}

const DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024;

export class RegistryClient {
  /** `host[:port]` of the registry. */
  readonly host: string;
  /** The API's base URL (`http://localhost:5000`). */
  readonly baseUrl: string;
  private readonly transport: Transport;
  private readonly ownsTransport: boolean;
  private readonly auth: Authenticator;
  private readonly uploads: BlobUploader;

  /** `registry` is `host[:port]` (scheme chosen as docker does) or a URL (`https://registry.example`). */
  constructor(registry: string, options: RegistryClientOptions = {}) {
    const explicit = /^https?:\/\//i.exec(registry);
    this.host = normalizeRegistryHost(registry);
    this.baseUrl = explicit
      ? new URL(registry).origin
      : registryBaseUrl(this.host, options.plainHttp === undefined ? {} : { plainHttp: options.plainHttp });
    this.transport = options.transport ?? new Transport(options);
    this.ownsTransport = options.transport === undefined;
    const source = options.credentials;
    // Read once, when a challenge first needs them.
    let credentials: Promise<Credentials | undefined> | undefined;
    const lookup = (): Promise<Credentials | undefined> => {
      credentials ??= (async () => {
        if (source === false) return undefined;
        if (source === undefined) return new CredentialStore().get(this.host);
        if (source instanceof CredentialStore) return source.get(this.host);
        return source;
      })();
      return credentials;
    };
    this.auth = new Authenticator(this.transport, this.host, lookup);
    this.uploads = new BlobUploader(
      {
        call: (call) => this.call(call),
        expect: (what, call, expected) => this.expect(what, call, expected),
        url: (path) => this.url(path),
      },
      options.chunkSize ?? DEFAULT_CHUNK_SIZE,
    );
  }

  /** Closes pooled connections (only when this registry owns its transport). */
  close(): void {
    if (this.ownsTransport) this.transport.close();
  }

  private url(path: string): URL {
    return new URL(path, this.baseUrl);
  }

  /** Sends a request, answering authentication challenges; returns whatever status came back. */
  private async call(options: CallOptions): Promise<TransportResponse> {
    let authorization = await this.auth.authorization(options.scopes);
    // A streamed upload cannot be sent twice; it goes out with a token fresh enough not to need it.
    const replayable = typeof options.body !== 'function' || options.idempotent === true;
    for (let attempt = 0; ; attempt++) {
      const headers = { ...options.headers };
      if (authorization) headers.Authorization = authorization;
      const response = await this.transport.send({
        method: options.method,
        url: options.url,
        headers,
        body: options.body,
        idempotent: options.idempotent,
      });
      if (response.status !== 401 || attempt > 0 || !replayable) return response;
      const challenge = response.header('www-authenticate');
      response.discard();
      if (!(await this.auth.challenge(challenge, options.scopes, authorization)))
        return this.retryAsIs(options, headers);
      authorization = await this.auth.authorization(options.scopes);
    }
  }

  /** After a 401 that taught nothing new, the request is sent once more to get the error body to report. */
  private retryAsIs(options: CallOptions, headers: Record<string, string>): Promise<TransportResponse> {
    return this.transport.send({
      method: options.method,
      url: options.url,
      headers,
      body: options.body,
      idempotent: options.idempotent,
    });
  }

  /** Calls and fails with a ClientError unless the status is one of `expected`. */
  private async expect(what: string, options: CallOptions, expected: number[]): Promise<TransportResponse> {
    const response = await this.call(options);
    if (expected.includes(response.status)) return response;
    const text = options.method === 'HEAD' ? '' : await response.text(64 * 1024).catch(() => '');
    throw await this.failure(what, response, text, options.scopes);
  }

  /**
   * The error for an answer that was not expected, with its body's `text`. A refusal (401, 403) says what would help: logging in, or, for a signed-in user, which right
   * is missing.
   */
  private async failure(
    what: string,
    response: TransportResponse,
    text: string,
    scopes: string[],
  ): Promise<ClientError> {
    const error = withRetryAfter(
      errorFromResponse(`${what} on ${this.host}`, response.status, text),
      response.header('retry-after'),
    );
    if (error.kind === 'auth') {
      error.details.hint = refusalHint({
        registry: this.host,
        status: response.status,
        challenge: response.header('www-authenticate'),
        errors: error.details.errors ?? [],
        credentialsSent: response.credentialsSent,
        signedIn: await this.auth.signedIn(),
        scopes,
      });
    }
    return error;
  }

  /** `GET /v2/`: whether the registry answers the API, and whether we are allowed in. */
  async ping(): Promise<{ apiVersion: string | undefined }> {
    const response = await this.expect('ping', { method: 'GET', url: this.url(apiPaths.base()), scopes: [] }, [200]);
    response.discard();
    return { apiVersion: response.header('docker-distribution-api-version') };
  }

  // ── listings ──────────────────────────────────────────────────────────────────────────────

  private async *pages<T>(what: string, first: URL, scopes: string[], pick: (body: unknown) => T[]): AsyncGenerator<T> {
    let url: URL | undefined = first;
    const seen = new Set<string>();
    while (url) {
      if (seen.has(url.href))
        throw new ClientError(
          'failure',
          `${what} on ${this.host}: the registry's Link header points back to ${url.pathname}${url.search}`,
        );
      seen.add(url.href);
      const response = await this.expect(what, { method: 'GET', url, scopes }, [200]);
      const text = await response.text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw new ClientError('failure', `${what} on ${this.host}: the response is not JSON`);
      }
      for (const item of pick(body)) yield item;
      url = nextPage(response.header('link'), response.url);
    }
  }

  /** Every repository (`GET /v2/_catalog`, following `Link`). */
  listRepositories(options: PageOptions = {}): AsyncGenerator<string> {
    return this.pages('catalog', this.url(apiPaths.catalog({ n: options.pageSize })), [scope.catalog()], (body) =>
      stringList((body as { repositories?: unknown }).repositories),
    );
  }

  /** Every tag of a repository (`GET /v2/<name>/tags/list`, following `Link`). */
  listTags(repository: string, options: PageOptions = {}): AsyncGenerator<string> {
    return this.pages(
      `tags of ${repository}`,
      this.url(apiPaths.tags(repository, { n: options.pageSize })),
      [scope.pull(repository)],
      (body) => stringList((body as { tags?: unknown }).tags),
    );
  }

  async catalog(options: PageOptions = {}): Promise<string[]> {
    return collect(this.listRepositories(options));
  }

  async tags(repository: string, options: PageOptions = {}): Promise<string[]> {
    return collect(this.listTags(repository, options));
  }

  // ── manifests ─────────────────────────────────────────────────────────────────────────────

  /** Fetches a manifest by tag or digest and checks its bytes against the digest. */
  async getManifest(
    repository: string,
    reference: string,
    options: { accept?: string } = {},
  ): Promise<FetchedManifest> {
    const response = await this.expect(
      `get manifest ${repository}:${reference}`,
      {
        method: 'GET',
        url: this.url(apiPaths.manifest(repository, reference)),
        scopes: [scope.pull(repository)],
        headers: { Accept: options.accept ?? MANIFEST_ACCEPT },
      },
      [200],
    );
    const bytes = await response.buffer(SMALL_BODY_LIMIT);
    const what = `manifest ${repository}@${reference}`;
    const claimed = response.header('docker-content-digest');
    let digest: string;
    if (isDigestReference(reference)) {
      verifyBytes(bytes, reference, what);
      digest = reference;
    } else if (claimed) {
      verifyBytes(bytes, claimed, what);
      digest = claimed;
    } else {
      digest = digestString(bytes);
    }
    let manifest: Manifest;
    try {
      manifest = JSON.parse(bytes.toString('utf8')) as Manifest;
    } catch {
      throw new ClientError('failure', `${what} on ${this.host} is not JSON`);
    }
    const header = response.header('content-type')?.split(';')[0]?.trim();
    const mediaType =
      manifest.mediaType ?? (header && header !== 'application/json' ? header : manifestMediaType(manifest));
    return { digest, mediaType, bytes, manifest };
  }

  /** `HEAD` on a manifest: digest, media type and size, or undefined when it does not exist. */
  async headManifest(repository: string, reference: string): Promise<ContentInfo | undefined> {
    const response = await this.call({
      method: 'HEAD',
      url: this.url(apiPaths.manifest(repository, reference)),
      scopes: [scope.pull(repository)],
      headers: { Accept: MANIFEST_ACCEPT },
    });
    response.discard();
    if (response.status === 404) return undefined;
    if (response.status !== 200)
      throw await this.failure(`head manifest ${repository}:${reference}`, response, '', [scope.pull(repository)]);
    const digest = response.header('docker-content-digest');
    const mediaType = response.header('content-type')?.split(';')[0]?.trim() ?? '';
    const size = Number(response.header('content-length') ?? Number.NaN);
    if (!digest) {
      // Some registries omit the digest on HEAD: read the manifest and hash it.
      const fetched = await this.getManifest(repository, reference);
      return { digest: fetched.digest, mediaType: fetched.mediaType, size: fetched.bytes.length };
    }
    return { digest, mediaType, size };
  }

  /** The digest a tag (or digest) points to. */
  async digest(repository: string, reference: string): Promise<string> {
    const info = await this.headManifest(repository, reference);
    if (!info) {
      throw new ClientError(
        'not-found',
        `${this.host}/${repository}${isDigestReference(reference) ? '@' : ':'}${reference} does not exist`,
        {
          hint: `list the tags with: berth tags ${this.host}/${repository}`,
        },
      );
    }
    return info.digest;
  }

  /**
   * Pushes a manifest under a tag or its digest; `tags` adds more tags in the same request (OCI
   * 1.1 `?tag=`). Returns the digest, checked against what the registry computed.
   */
  async putManifest(
    repository: string,
    reference: string,
    content: Buffer | Manifest,
    options: { mediaType?: string } = {},
  ): Promise<string> {
    const bytes = Buffer.isBuffer(content) ? content : Buffer.from(JSON.stringify(content));
    const parsed = Buffer.isBuffer(content) ? (JSON.parse(bytes.toString('utf8')) as Manifest) : content;
    const mediaType = options.mediaType ?? manifestMediaType(parsed);
    const algorithm = isDigestReference(reference) ? digestAlgorithm(reference) : 'sha256';
    const digest = digestString(bytes, algorithm);
    if (isDigestReference(reference) && digest !== reference) {
      throw new ClientError('digest-mismatch', `manifest bytes have digest ${digest}, not ${reference}`);
    }
    const response = await this.expect(
      `put manifest ${repository}:${reference}`,
      {
        method: 'PUT',
        url: this.url(apiPaths.manifest(repository, reference)),
        scopes: [scope.push(repository)],
        headers: { 'Content-Type': mediaType },
        body: bytes,
      },
      [200, 201, 202],
    );
    response.discard();
    const claimed = response.header('docker-content-digest');
    if (claimed?.startsWith(`${algorithm}:`) && claimed !== digest) {
      throw new ClientError(
        'digest-mismatch',
        `${this.host} stored manifest ${repository}:${reference} as ${claimed}, expected ${digest}`,
      );
    }
    return digest;
  }

  /** Deletes a manifest by digest (the registry also drops every tag pointing to it). */
  async deleteManifest(repository: string, digest: string): Promise<void> {
    digestAlgorithm(digest);
    const response = await this.expect(
      `delete manifest ${repository}@${digest}`,
      {
        method: 'DELETE',
        url: this.url(apiPaths.manifest(repository, digest)),
        scopes: [scope.delete(repository)],
      },
      [200, 202, 204],
    );
    response.discard();
  }

  /** Removes a tag only, leaving the manifest (OCI 1.1; not every registry supports it). */
  async deleteTag(repository: string, tag: string): Promise<void> {
    if (isDigestReference(tag)) throw new ClientError('usage', `"${tag}" is a digest, not a tag: use deleteManifest`);
    const response = await this.call({
      method: 'DELETE',
      url: this.url(apiPaths.manifest(repository, tag)),
      scopes: [scope.delete(repository)],
    });
    if ([200, 202, 204].includes(response.status)) {
      response.discard();
      return;
    }
    const text = await response.text(64 * 1024).catch(() => '');
    const error = await this.failure(`delete tag ${repository}:${tag}`, response, text, [scope.delete(repository)]);
    // Registries without tag deletion (Distribution 2.x) answer 400 DIGEST_INVALID or 405.
    if (response.status === 405 || (response.status === 400 && error.codes.includes('DIGEST_INVALID'))) {
      throw new ClientError(
        'unsupported',
        `${this.host} cannot delete a tag without deleting its manifest (${error.message})`,
        {
          status: response.status,
          errors: error.details.errors,
          hint: `delete the manifest by digest instead (berth rm ${this.host}/${repository}:${tag}), which removes every tag pointing to it`,
        },
      );
    }
    throw error;
  }

  // ── blobs ─────────────────────────────────────────────────────────────────────────────────

  /** `HEAD` on a blob: its size, or undefined when the repository does not have it. */
  async headBlob(repository: string, digest: string): Promise<ContentInfo | undefined> {
    const response = await this.call({
      method: 'HEAD',
      url: this.url(apiPaths.blob(repository, digest)),
      scopes: [scope.pull(repository)],
    });
    response.discard();
    if (response.status === 404) return undefined;
    if (response.status !== 200)
      throw await this.failure(`head blob ${repository}@${digest}`, response, '', [scope.pull(repository)]);
    return {
      digest: response.header('docker-content-digest') ?? digest,
      mediaType: response.header('content-type') ?? 'application/octet-stream',
      size: Number(response.header('content-length') ?? Number.NaN),
    };
  }

  async hasBlob(repository: string, digest: string): Promise<boolean> {
    return (await this.headBlob(repository, digest)) !== undefined;
  }

  /**
   * Opens a blob for reading. The stream fails at its end if the bytes do not hash to `digest`
   * (or do not add up to `size`, when given), so pipe it somewhere that discards on error.
   */
  async openBlob(
    repository: string,
    digest: string,
    options: { size?: number } = {},
  ): Promise<{ stream: Readable; size: number | undefined }> {
    digestAlgorithm(digest);
    const response = await this.expect(
      `get blob ${repository}@${digest}`,
      {
        method: 'GET',
        url: this.url(apiPaths.blob(repository, digest)),
        scopes: [scope.pull(repository)],
      },
      [200],
    );
    const length = response.header('content-length');
    const size = options.size ?? (length === undefined ? undefined : Number(length));
    const verifier = new DigestVerifier(digest, `blob ${repository}@${digest} from ${this.host}`, size);
    response.body.on('error', (error) => verifier.destroy(error));
    response.body.pipe(verifier);
    return { stream: verifier, size };
  }

  /** Reads a small blob (an image config) whole, verified. */
  async getBlobBytes(repository: string, digest: string, limit = SMALL_BODY_LIMIT): Promise<Buffer> {
    const { stream, size } = await this.openBlob(repository, digest);
    if (size !== undefined && size > limit) {
      stream.destroy();
      throw new ClientError(
        'failure',
        `blob ${repository}@${digest} is ${size} bytes, more than the ${limit} this call reads into memory`,
      );
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of stream) {
      total += (chunk as Buffer).length;
      if (total > limit) {
        stream.destroy();
        throw new ClientError('failure', `blob ${repository}@${digest} is larger than ${limit} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks, total);
  }

  /** Deletes a blob from a repository (most registries only allow it with deletion enabled). */
  async deleteBlob(repository: string, digest: string): Promise<void> {
    digestAlgorithm(digest);
    const response = await this.expect(
      `delete blob ${repository}@${digest}`,
      {
        method: 'DELETE',
        url: this.url(apiPaths.blob(repository, digest)),
        scopes: [scope.delete(repository)],
      },
      [200, 202, 204],
    );
    response.discard();
  }

  /** Asks the registry to link a blob it has in `from` into `repository`; true when it did. */
  mountBlob(repository: string, digest: string, from: string): Promise<boolean> {
    return this.uploads.mount(repository, digest, from);
  }

  /**
   * Uploads a blob: a mount when `mountFrom` is given and the registry agrees, otherwise one
   * streamed PUT (monolithic) or a series of PATCH chunks then a PUT (chunked).
   */
  uploadBlob(repository: string, source: BlobSource, options: UploadOptions = {}): Promise<UploadResult> {
    return this.uploads.upload(repository, source, options);
  }

  /** Writes a blob into a writable stream, verified; resolves once all bytes are written. */
  async downloadBlob(
    repository: string,
    digest: string,
    destination: NodeJS.WritableStream,
    options: { size?: number } = {},
  ): Promise<void> {
    const { stream } = await this.openBlob(repository, digest, options);
    await pipeline(stream, destination);
  }

  // ── referrers ─────────────────────────────────────────────────────────────────────────────

  /**
   * Manifests whose `subject` is `digest` (OCI 1.1 referrers API), following `Link`. Registries
   * without the API are read through the referrers tag schema (`<alg>-<hex>` tag holding an index).
   */
  async referrers(repository: string, digest: string, options: { artifactType?: string } = {}): Promise<Descriptor[]> {
    digestAlgorithm(digest);
    const first = this.url(apiPaths.referrers(repository, digest, { artifactType: options.artifactType }));
    const response = await this.call({
      method: 'GET',
      url: first,
      scopes: [scope.pull(repository)],
      headers: { Accept: 'application/vnd.oci.image.index.v1+json' },
    });
    const filter = (descriptors: Descriptor[]) =>
      options.artifactType
        ? descriptors.filter((descriptor) => descriptor.artifactType === options.artifactType)
        : descriptors;
    if (response.status === 404) {
      response.discard();
      const fallback = await this.headManifest(repository, digest.replace(':', '-'));
      if (!fallback) return [];
      const index = await this.getManifest(repository, fallback.digest);
      return filter((index.manifest as ImageIndex).manifests ?? []);
    }
    if (response.status !== 200)
      throw await this.failure(
        `referrers of ${repository}@${digest}`,
        response,
        await response.text(64 * 1024).catch(() => ''),
        [scope.pull(repository)],
      );
    const results: Descriptor[] = [];
    const firstBody = JSON.parse(await response.text()) as ImageIndex;
    results.push(...(firstBody.manifests ?? []));
    const next = nextPage(response.header('link'), response.url);
    if (next) {
      for await (const descriptor of this.pages(
        `referrers of ${repository}@${digest}`,
        next,
        [scope.pull(repository)],
        (body) => (body as ImageIndex).manifests ?? [],
      )) {
        results.push(descriptor);
      }
    }
    return filter(results);
  }
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const result: T[] = [];
  for await (const item of items) result.push(item);
  return result;
}
