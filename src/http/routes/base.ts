/** `GET /v2/` (end-1): the API version check. */
import type { MethodHandlers } from '../context.js';

export const baseRoutes: MethodHandlers = {
  GET: async ({ reply }) => {
    reply.type('application/json').send('{}');
  },
  HEAD: async ({ reply }) => {
    reply.type('application/json').header('Content-Length', 2).send();
  },
};
