/**
 * `/v2/<name>/manifests/<reference>`: `GET`/`HEAD` (end-3), `PUT` by tag or digest with `?tag=`
 * (end-7a, end-7b), `DELETE` by digest or tag (end-9).
 */
import { isDigestReference, isValidTag, parseDigest } from '../../api/reference.js';
import { RegistryError, errors } from '../../api/errors.js';
import { apiPaths } from '../../api/routes.js';
import type { StoredManifest } from '../../registry/manifests/store.js';
import {
  digestParam,
  location,
  matchesETag,
  readSmallBody,
  repositoryName,
  type Context,
  type MethodHandlers,
} from '../context.js';
import { manifestTarget, notify } from '../events.js';

/** A tag or digest reference, checked against the spec's grammar: a PUT of a bad one is refused. */
export function reference(context: Context): string {
  const value = context.rawReference;
  if (isDigestReference(value)) return digestParam(value).value;
  if (!isValidTag(value)) throw invalidTag(value);
  return value;
}

/**
 * The reference of a GET, HEAD or DELETE: one that is neither tag nor digest names no manifest,
 * so it is unknown (404), as in Distribution and the spec's "does not exist" path.
 */
export function existingReference(context: Context): string {
  const value = context.rawReference;
  if (isDigestReference(value) ? !parseDigest(value).ok : !isValidTag(value)) throw errors.manifestUnknown(value);
  return reference(context);
}

function invalidTag(tag: string): RegistryError {
  return new RegistryError(
    'MANIFEST_INVALID',
    `invalid tag "${tag}": a tag must match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`,
    { tag },
  );
}

async function serveManifest(context: Context, withBody: boolean): Promise<void> {
  const ref = existingReference(context);
  const manifest = await context.registry.getManifest(repositoryName(context), ref);
  await sendManifest(context, manifest, withBody, ref);
}

/** Answers with a stored manifest (304 when the client has it); `ref` is the tag or digest asked for. */
export async function sendManifest(
  context: Context,
  manifest: StoredManifest,
  withBody: boolean,
  ref: string,
): Promise<void> {
  const { request, reply } = context;
  const name = repositoryName(context);
  // Retention's pull time: a GET only (clients HEAD to check what they have), kept in memory.
  if (withBody) context.registry.pulls.note(name, manifest.digest.value);
  // A HEAD is a pull too, as Distribution reports it.
  await notify(context, 'pull', [manifestTarget(context, name, manifest, isDigestReference(ref) ? undefined : ref)]);
  const etag = `"${manifest.digest.value}"`;
  reply.header('Docker-Content-Digest', manifest.digest.value).header('ETag', etag).type(manifest.mediaType);
  if (matchesETag(request.headers['if-none-match'], etag)) {
    reply.code(304).send();
    return;
  }
  reply.header('Content-Length', manifest.bytes.length);
  reply.send(withBody ? manifest.bytes : undefined);
}

export const manifestRoutes: MethodHandlers = {
  GET: (context) => serveManifest(context, true),
  HEAD: (context) => serveManifest(context, false),

  PUT: async (context) => {
    const { request, reply, registry, settings } = context;
    const name = repositoryName(context);
    const ref = reference(context);
    const extraTags = context.query.getAll('tag');
    if (extraTags.length > 0 && !isDigestReference(ref)) {
      throw new RegistryError('MANIFEST_INVALID', 'tag query parameters are only accepted when pushing by digest', {
        tags: extraTags,
      });
    }
    for (const tag of extraTags) if (!isValidTag(tag)) throw invalidTag(tag);
    const body = await readSmallBody(request, settings.manifestMaxSize);
    const manifest = await registry.putManifest(name, ref, body, request.headers['content-type'], extraTags);
    // One push event per tag the manifest was pushed under (one without a tag for a bare digest).
    const tags = isDigestReference(ref) ? [...new Set(extraTags)] : [ref];
    await notify(
      context,
      'push',
      (tags.length > 0 ? tags : [undefined]).map((tag) => manifestTarget(context, name, manifest, tag)),
    );
    reply
      .code(201)
      .header('Location', location(context, apiPaths.manifest(name, manifest.digest.value)))
      .header('Docker-Content-Digest', manifest.digest.value)
      .header('Content-Length', 0);
    if (extraTags.length > 0) reply.header('OCI-Tag', [...new Set(extraTags)].join(', '));
    if (manifest.subject) reply.header('OCI-Subject', manifest.subject.digest.value);
    reply.send();
  },

  DELETE: async (context) => {
    const { reply, registry, settings } = context;
    if (!settings.deleteEnabled)
      throw errors.unsupported('manifest deletion is disabled (storage.delete.enabled is false)');
    const name = repositoryName(context);
    const ref = existingReference(context);
    if (isDigestReference(ref)) {
      const digest = digestParam(ref);
      const untagged = await registry.deleteManifest(name, digest);
      // Distribution reports the manifest, then each tag that went with it.
      await notify(context, 'delete', [
        { digest: digest.value, repository: name },
        ...untagged.map((tag) => ({ repository: name, tag })),
      ]);
    } else if (await registry.deleteTag(name, ref)) {
      await notify(context, 'delete', [{ repository: name, tag: ref }]);
    } else {
      throw errors.manifestUnknown(ref);
    }
    reply.code(202).header('Content-Length', 0).send();
  },
};
