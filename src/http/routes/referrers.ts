/** `GET /v2/<name>/referrers/<digest>` with `artifactType` filtering (end-12a, end-12b). */
import { MediaType } from '../../api/media-types.js';
import { apiPaths } from '../../api/routes.js';
import { digestParam, page, pagination, repositoryName, setNextLink, type MethodHandlers } from '../context.js';

/** Descriptors per response when the client does not ask for fewer. */
const PAGE_SIZE = 1000;

export const referrerRoutes: MethodHandlers = {
  GET: async (context) => {
    const { registry, reply, query } = context;
    const name = repositoryName(context);
    const subject = digestParam(context.rawReference);
    const artifactType = query.get('artifactType') ?? undefined;
    let referrers = await registry.referrers.list(name, subject);
    if (artifactType) {
      referrers = referrers.filter((referrer) => referrer.artifactType === artifactType);
      reply.header('OCI-Filters-Applied', 'artifactType');
    }
    const { n, last } = pagination(context, PAGE_SIZE);
    const size = n ?? PAGE_SIZE;
    const { items, more } = page(
      referrers.map((referrer) => referrer.digest),
      size,
      last,
    );
    if (more)
      setNextLink(
        context,
        apiPaths.referrers(name, subject.value, { n: size, last: items[items.length - 1], artifactType }),
      );
    const chosen = new Set(items);
    const index = {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: referrers.filter((referrer) => chosen.has(referrer.digest)),
    };
    // Bytes, not a string: fastify appends "; charset=utf-8" to string bodies, and the spec wants
    // the Content-Type to be exactly the index media type.
    reply.type(MediaType.OciIndex).send(Buffer.from(JSON.stringify(index)));
  },
};
