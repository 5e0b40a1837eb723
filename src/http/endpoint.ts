/** What the dispatcher calls for one URL: a handler per HTTP method. */
import type { FastifyReply, FastifyRequest } from 'fastify';

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export type EndpointHandler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

export type Endpoint = Partial<Record<HttpMethod, EndpointHandler>>;
