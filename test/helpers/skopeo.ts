/**
 * skopeo between OCI layouts and a registry on loopback (plain HTTP, so TLS verification is off),
 * and the check that a layout copied out of a registry holds exactly the images copied in:
 * same manifest and index digests, same blobs, each blob's bytes hashing to its name.
 */
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { OCI_INDEX, readBlobs, readJsonBlob, readRefs, type Descriptor } from './oci-layout.js';
import { run, type RunOptions, type RunResult } from './tools.js';

const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

/** Runs skopeo without a signature policy file: test images are unsigned and local. */
export function skopeo(args: string[], options?: RunOptions): Promise<RunResult> {
  return run('skopeo', ['--insecure-policy', ...args], options);
}

/** `skopeo copy oci:DIR:tag docker://host/repo:tag`; `all` copies every image of an index. */
export function pushLayout(
  dir: string,
  tag: string,
  destination: string,
  options: { all?: boolean; extra?: string[] } = {},
): Promise<RunResult> {
  return skopeo([
    'copy',
    ...(options.all ? ['--all'] : []),
    ...(options.extra ?? []),
    '--dest-tls-verify=false',
    `oci:${dir}:${tag}`,
    `docker://${destination}`,
  ]);
}

/** `skopeo copy docker://host/repo:tag oci:DIR:tag`. */
export function pullToLayout(
  source: string,
  dir: string,
  tag: string,
  options: { all?: boolean; extra?: string[] } = {},
): Promise<RunResult> {
  return skopeo([
    'copy',
    ...(options.all ? ['--all'] : []),
    ...(options.extra ?? []),
    '--src-tls-verify=false',
    `docker://${source}`,
    `oci:${dir}:${tag}`,
  ]);
}

/** Every blob a manifest or index reaches (itself included), read from a layout. */
export async function reachableBlobs(dir: string, root: Descriptor): Promise<Set<string>> {
  const found = new Set<string>();
  const visit = async (descriptor: Descriptor): Promise<void> => {
    if (found.has(descriptor.digest)) return;
    found.add(descriptor.digest);
    const body = await readJsonBlob<{ manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] }>(
      dir,
      descriptor.digest,
    );
    if (descriptor.mediaType === OCI_INDEX || descriptor.mediaType === DOCKER_LIST) {
      for (const child of body.manifests ?? []) await visit(child);
      return;
    }
    for (const blob of [body.config, ...(body.layers ?? [])]) if (blob) found.add(blob.digest);
  };
  await visit(root);
  return found;
}

/**
 * Asserts that `copy` holds exactly the images `source` names under `tags`: each tag resolves to
 * the same digest and media type, and the blobs present are exactly the ones those images reach,
 * each with the same size and with content that hashes to its digest.
 */
export async function assertLayoutCopy(source: string, copy: string, tags: string[]): Promise<void> {
  const sourceRefs = await readRefs(source);
  const copyRefs = await readRefs(copy);
  const expected = new Map<string, number>();
  for (const tag of tags) {
    const original = sourceRefs.get(tag);
    assert.ok(original, `source layout has no tag ${tag}`);
    const copied = copyRefs.get(tag);
    assert.ok(copied, `copied layout has no tag ${tag}`);
    assert.equal(copied.digest, original.digest, `${tag}: manifest digest`);
    assert.equal(copied.mediaType, original.mediaType, `${tag}: manifest media type`);
    for (const digest of await reachableBlobs(source, original)) {
      expected.set(digest, (await stat(join(source, 'blobs', 'sha256', digest.slice('sha256:'.length)))).size);
    }
  }
  const actual = await readBlobs(copy);
  assert.deepEqual(
    [...actual.entries()].sort(),
    [...expected.entries()].sort(),
    'blobs of the copied layout (digest, size)',
  );
}
