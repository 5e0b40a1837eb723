/** `GET /v2/<name>/tags/list` with `n` and `last` (end-8a, end-8b). */
import { errors } from '../../api/errors.js';
import { apiPaths } from '../../api/routes.js';
import { page, pagination, repositoryName, setNextLink, type MethodHandlers } from '../context.js';

export const tagRoutes: MethodHandlers = {
  GET: async (context) => {
    const { registry, reply } = context;
    const name = repositoryName(context);
    if (!(await registry.catalog.exists(name))) throw errors.nameUnknown(name);
    const { n, last } = pagination(context, Number.MAX_SAFE_INTEGER);
    const { items, more } = page(await registry.tags.list(name), n, last);
    if (more && n !== undefined) setNextLink(context, apiPaths.tags(name, { n, last: items[items.length - 1] }));
    reply.type('application/json').send(JSON.stringify({ name, tags: items }));
  },
};
