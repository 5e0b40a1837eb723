/**
 * `GET /v2/_catalog` with `n` and `last`: Distribution's repository listing. With auth on, it
 * lists only the repositories the caller may pull.
 */
import { apiPaths } from '../../api/routes.js';
import { page, pagination, setNextLink, type MethodHandlers } from '../context.js';

export const catalogRoutes: MethodHandlers = {
  GET: async (context) => {
    const { registry, reply, settings } = context;
    const max = settings.catalogMaxEntries;
    const { n, last } = pagination(context, max);
    const size = n ?? max;
    const visible = context.request.berth.caller?.mayPull;
    const names = await registry.catalog.listing();
    const { items, more } = page(names, size, last, visible);
    if (more) setNextLink(context, apiPaths.catalog({ n: size, last: items[items.length - 1] }));
    reply.type('application/json').send(JSON.stringify({ repositories: items }));
  },
};
