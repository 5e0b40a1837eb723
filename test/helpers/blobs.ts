/** Whole blobs through the registry API: one-request pushes and byte-for-byte pulls. */
import assert from 'node:assert/strict';
import type { Blob } from './content.js';
import { client, type HttpReply } from './http.js';

/** Pushes a blob in one request (POST with `digest` and the body). */
export async function pushBlob(server: { url: string }, name: string, blob: Blob): Promise<HttpReply> {
  return client(server.url)('POST', `/v2/${name}/blobs/uploads/?digest=${blob.digest}`, { body: blob.content });
}

/** Asserts that the blob pulls back from `name` byte for byte. */
export async function pullsBack(server: { url: string }, name: string, blob: Blob): Promise<void> {
  const pulled = await client(server.url)('GET', `/v2/${name}/blobs/${blob.digest}`);
  assert.equal(pulled.status, 200);
  assert.ok(pulled.body.equals(blob.content), `${name} ${blob.digest} pulls back byte for byte`);
}
