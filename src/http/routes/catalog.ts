/** `GET /v2/_catalog` with `n` and `last`: Distribution's repository listing. */
import { apiPaths } from '../../api/routes.js';
import { page, pagination, setNextLink, type MethodHandlers } from '../context.js';

export const catalogRoutes: MethodHandlers = {
  GET: async (context) => {
    const { registry, reply, settings } = context;
    const max = settings.catalogMaxEntries;
    const { n, last } = pagination(context, max);
    const size = n ?? max;
    const { items, more } = page(await registry.catalog.all(), size, last);
    if (more) setNextLink(context, apiPaths.catalog({ n: size, last: items[items.length - 1] }));
    reply.type('application/json').send(JSON.stringify({ repositories: items }));
  },
};
