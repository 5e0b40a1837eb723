/** Quick ways to make repositories and tags exist: an empty image index needs no blobs. */
import assert from 'node:assert/strict';
import { asBody, OCI_INDEX } from './content.js';
import { makeIndex } from './manifests.js';

/** Tags `tags` in repository `name` with one small index manifest; returns its digest. */
export async function tagEmptyIndex(url: string, name: string, tags: string[]): Promise<string> {
  const index = makeIndex([], { extra: { annotations: { repository: name } } });
  for (const tag of tags) {
    const response = await fetch(`${url}/v2/${name}/manifests/${tag}`, {
      method: 'PUT',
      body: asBody(index.bytes),
      headers: { 'Content-Type': OCI_INDEX },
    });
    assert.equal(response.status, 201, `PUT ${name}:${tag}: ${await response.text()}`);
  }
  return index.digest;
}
