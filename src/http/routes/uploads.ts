/**
 * Blob uploads. `POST /v2/<name>/blobs/uploads/` starts one (end-4a), pushes a whole blob in one
 * request with `?digest=` (end-4b), picks the digest algorithm (end-4c) or mounts a blob from
 * another repository (end-11). `/v2/<name>/blobs/uploads/<uuid>` takes chunks (`PATCH`, end-5),
 * finishes (`PUT ?digest=`, end-6), reports progress (`GET`, end-13) and cancels (`DELETE`, end-14).
 */
import { isDigestAlgorithm, isValidName, type Digest } from '../../api/reference.js';
import { RegistryError, errors } from '../../api/errors.js';
import { apiPaths } from '../../api/routes.js';
import { UploadStore, type ChunkClaim } from '../../registry/uploads.js';
import { hasBody } from '../../request/body.js';
import { digestParam, location, repositoryName, type Context, type MethodHandlers } from '../context.js';
import { blobTarget, notify } from '../events.js';
import { parseContentRange } from '../range.js';

function uploadId(context: Context): string {
  const uuid = context.rawReference;
  if (!UploadStore.isValidUuid(uuid)) throw errors.uploadUnknown(uuid);
  return uuid;
}

/**
 * The `Content-Range` of a chunk, checked against its `Content-Length` when both are sent. A
 * malformed header is a bad request (400); a chunk that starts elsewhere than the upload's offset
 * gets 416 later, from the upload store. A length that disagrees with the range is SIZE_INVALID,
 * as Distribution answers it.
 */
function chunkClaim(context: Context): ChunkClaim | undefined {
  const header = context.request.headers['content-range'];
  const claim = parseContentRange(header);
  if (claim === undefined) return undefined;
  if (claim === 'invalid') {
    throw new RegistryError('BLOB_UPLOAD_INVALID', 'Content-Range must be "<start>-<end>" (inclusive, start <= end)', {
      contentRange: header,
    });
  }
  const length = context.request.headers['content-length'];
  if (length !== undefined && Number(length) !== claim.end - claim.start + 1) {
    throw new RegistryError('SIZE_INVALID', `Content-Length ${length} does not match Content-Range ${header}`, {
      contentRange: header,
      contentLength: length,
    });
  }
  return claim;
}

/** `Range: 0-<last byte>` as the spec writes upload progress ("0-0" before any byte). */
function progress(offset: number): string {
  return `0-${Math.max(offset - 1, 0)}`;
}

function sendUploadState(context: Context, name: string, uuid: string, offset: number, status: number): void {
  context.reply
    .code(status)
    .header('Location', location(context, apiPaths.upload(name, uuid)))
    .header('Docker-Upload-UUID', uuid)
    .header('Range', progress(offset))
    .header('Content-Length', 0)
    .send();
}

function sendCreated(context: Context, name: string, digest: Digest): void {
  context.reply
    .code(201)
    .header('Location', location(context, apiPaths.blob(name, digest.value)))
    .header('Docker-Content-Digest', digest.value)
    .header('Content-Length', 0)
    .send();
}

/** Cross-repository mount: true when the blob was linked without an upload. */
async function tryMount(context: Context, name: string, digest: Digest): Promise<boolean> {
  const from = context.query.get('from');
  if (from !== null && !isValidName(from)) throw errors.nameInvalid(from, `"from" is not a valid repository name`);
  // Without `from`, any stored blob may be mounted (the spec allows it), unless access control is
  // on: then the client uploads (202), as the spec's fallback allows. The registry checks and
  // links under the garbage collector's guard.
  if (from === null && !context.settings.mountWithoutFrom) return false;
  return context.registry.mountBlob(name, digest, from ?? undefined);
}

export const uploadsRoutes: MethodHandlers = {
  POST: async (context) => {
    const { registry, query, request } = context;
    const name = repositoryName(context);
    // A repository or namespace already at its byte quota gets no new blobs (docs/policies.md).
    await registry.quotas.assertMayUpload(name);
    const mount = query.get('mount');
    if (mount !== null) {
      const digest = digestParam(mount);
      if (await tryMount(context, name, digest)) {
        if (context.events?.enabled) {
          const size = (await registry.blobs.stat(digest))?.size ?? 0;
          const from = query.get('from') ?? undefined;
          await notify(context, 'mount', [blobTarget(context, name, digest, size, from)]);
        }
        return sendCreated(context, name, digest);
      }
    }
    const digestValue = query.get('digest');
    const algorithm = query.get('digest-algorithm') ?? 'sha256';
    if (!isDigestAlgorithm(algorithm)) {
      throw errors.digestInvalid(
        { algorithm },
        `unsupported digest algorithm "${algorithm}" (supported: sha256, sha512)`,
      );
    }
    if (digestValue !== null && mount === null) {
      // Single-request monolithic push (end-4b).
      const digest = digestParam(digestValue);
      const size = await registry.uploads.putWhole(name, digest, request.raw);
      await notify(context, 'push', [blobTarget(context, name, digest, size)]);
      return sendCreated(context, name, digest);
    }
    if (hasBody(request)) request.raw.resume();
    const upload = await registry.uploads.start(name, algorithm);
    sendUploadState(context, name, upload.uuid, 0, 202);
  },
};

export const uploadRoutes: MethodHandlers = {
  GET: async (context) => {
    const name = repositoryName(context);
    const uuid = uploadId(context);
    const status = await context.registry.uploads.status(name, uuid);
    sendUploadState(context, name, uuid, status.offset, 204);
  },

  PATCH: async (context) => {
    const name = repositoryName(context);
    const uuid = uploadId(context);
    const claim = chunkClaim(context);
    const status = await context.registry.uploads.append(name, uuid, context.request.raw, claim);
    sendUploadState(context, name, uuid, status.offset, 202);
  },

  PUT: async (context) => {
    const { request, registry, query } = context;
    const name = repositoryName(context);
    const uuid = uploadId(context);
    const digestValue = query.get('digest');
    if (digestValue === null) {
      throw errors.digestInvalid({}, 'the digest query parameter is required to finish an upload');
    }
    const digest = digestParam(digestValue);
    const claim = chunkClaim(context);
    const size = await registry.uploads.complete(name, uuid, digest, hasBody(request) ? request.raw : undefined, claim);
    await notify(context, 'push', [blobTarget(context, name, digest, size)]);
    sendCreated(context, name, digest);
  },

  DELETE: async (context) => {
    const name = repositoryName(context);
    const uuid = uploadId(context);
    await context.registry.uploads.cancel(name, uuid);
    context.reply.code(204).header('Content-Length', 0).send();
  },
};
