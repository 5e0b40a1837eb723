/** `GET`/`HEAD`/`DELETE /v2/<name>/blobs/<digest>` (end-2, end-10). Blobs stream from storage. */
import type { Digest } from '../../api/reference.js';
import { errors } from '../../api/errors.js';
import { digestParam, matchesETag, repositoryName, type Context, type MethodHandlers } from '../context.js';
import { blobTarget, notify } from '../events.js';
import { parseRange } from '../range.js';
import { sendStream } from '../stream-body.js';

/** A blob is visible in a repository through its layer link, or as one of its manifests. */
async function visibleSize(context: Context, name: string, digest: Digest): Promise<number> {
  const { blobs, manifests } = context.registry;
  const [linked, info] = await Promise.all([blobs.isLinked(name, digest), blobs.stat(digest)]);
  if (!info) throw errors.blobUnknown(digest.value);
  if (!linked && !(await manifests.exists(name, digest))) throw errors.blobUnknown(digest.value);
  return info.size;
}

/** Answers with a stored blob visible in the repository, honouring `Range`. */
export async function serveBlob(context: Context, withBody: boolean): Promise<void> {
  const { request, reply, registry } = context;
  const name = repositoryName(context);
  const digest = digestParam(context.rawReference);
  const size = await visibleSize(context, name, digest);
  // Distribution reports every GET and HEAD of a present blob as a pull.
  await notify(context, 'pull', [blobTarget(context, name, digest, size)]);
  const etag = `"${digest.value}"`;
  reply
    .header('Docker-Content-Digest', digest.value)
    .header('ETag', etag)
    .header('Accept-Ranges', 'bytes')
    .header('Cache-Control', 'max-age=31536000')
    .type('application/octet-stream');
  if (matchesETag(request.headers['if-none-match'], etag)) {
    reply.code(304).send();
    return;
  }
  // Object storage: the client downloads from a presigned URL, Range and all (storage.redirect).
  // HEAD is answered here, with the digest header a redirect would lose.
  const redirect = withBody ? await registry.blobs.redirectURL(digest) : undefined;
  if (redirect) {
    reply.code(307).header('Location', redirect).header('Content-Length', 0).send();
    return;
  }
  const range = parseRange(request.headers.range, size);
  if (range.kind === 'unsatisfiable') {
    // RFC 9110 §15.5.17: the size in Content-Range; no body, so a client never takes one as content.
    reply.code(416).header('Content-Range', `bytes */${size}`).header('Content-Length', 0).removeHeader('Content-Type');
    return void reply.send();
  }
  if (range.kind === 'satisfiable') {
    const { start, end } = range.range;
    reply
      .code(206)
      .header('Content-Range', `bytes ${start}-${end}/${size}`)
      .header('Content-Length', end - start + 1);
    if (!withBody) return void reply.send();
    sendStream(reply, await registry.blobs.reader(digest, range.range));
    return;
  }
  reply.header('Content-Length', size);
  if (!withBody) return void reply.send();
  sendStream(reply, await registry.blobs.reader(digest));
}

export const blobRoutes: MethodHandlers = {
  GET: (context) => serveBlob(context, true),
  HEAD: (context) => serveBlob(context, false),

  DELETE: async (context) => {
    if (!context.settings.deleteEnabled)
      throw errors.unsupported('blob deletion is disabled (storage.delete.enabled is false)');
    const name = repositoryName(context);
    const digest = digestParam(context.rawReference);
    if (!(await context.registry.blobs.unlink(name, digest))) throw errors.blobUnknown(digest.value);
    await notify(context, 'delete', [{ digest: digest.value, repository: name }]);
    context.reply.code(202).header('Docker-Content-Digest', digest.value).header('Content-Length', 0).send();
  },
};
