/**
 * The in-memory figures of storage accounting, updated one repository at a time (and the unique
 * bytes of a namespace, kept until something changes): after every step of a random sequence of
 * repositories set, changed and removed, each figure equals one counted from scratch.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { namespaceOf, UsageIndex, type RepositoryContent } from '../../src/registry/policies/usage-index.js';

/** A small deterministic generator, so a failure can be replayed. */
function generator(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
}

const SIZES = new Map(
  Array.from({ length: 12 }, (_, at) => [`sha256:${String(at).padStart(64, '0')}`, 100 * (at + 1)]),
);
const DIGESTS = [...SIZES.keys()];
const NAMES = ['a/one', 'a/two', 'a/three', 'b/one', 'b/two', 'c', 'd/x/y'];

function fromScratch(contents: Map<string, RepositoryContent>) {
  const size = (digest: string) => SIZES.get(digest)!;
  const sum = (digests: Iterable<string>) => [...digests].reduce((total, digest) => total + size(digest), 0);
  const holders = (digest: string) => [...contents].filter(([, content]) => content.blobs.has(digest));
  const repositories = new Map(
    [...contents].map(([name, content]) => {
      const logical = sum(content.blobs.keys());
      const unique = sum([...content.blobs.keys()].filter((digest) => holders(digest).length === 1));
      return [name, { logical, unique }];
    }),
  );
  const namespaces = new Map<string, { logical: number; unique: number }>();
  for (const namespace of new Set([...contents.keys()].map(namespaceOf))) {
    const held = new Set(
      [...contents]
        .filter(([name]) => namespaceOf(name) === namespace)
        .flatMap(([, content]) => [...content.blobs.keys()]),
    );
    const elsewhere = (digest: string) => holders(digest).some(([name]) => namespaceOf(name) !== namespace);
    namespaces.set(namespace, { logical: sum(held), unique: sum([...held].filter((digest) => !elsewhere(digest))) });
  }
  const all = new Set([...contents.values()].flatMap((content) => [...content.blobs.keys()]));
  return { repositories, namespaces, total: { bytes: sum(all), blobs: all.size } };
}

function fromIndex(index: UsageIndex) {
  const repositories = new Map(
    [...index.names()].map((name) => {
      const { logical, unique } = index.repository(name)!;
      return [name, { logical, unique }];
    }),
  );
  const namespaces = new Map(
    [...index.namespaceNames()].map((name) => {
      const { logical, unique } = index.namespace(name)!;
      return [name, { logical, unique }];
    }),
  );
  const { bytes, blobs } = index.totals();
  return { repositories, namespaces, total: { bytes, blobs } };
}

describe('usage index', () => {
  it('keeps every figure equal to one counted from scratch, over random changes', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const random = generator(seed);
      const index = new UsageIndex((digest) => SIZES.get(digest) ?? 0);
      const contents = new Map<string, RepositoryContent>();
      for (let step = 0; step < 300; step++) {
        const name = NAMES[Math.floor(random() * NAMES.length)]!;
        if (random() < 0.2) {
          index.set(name, undefined);
          contents.delete(name);
        } else {
          const blobs = new Map(DIGESTS.filter(() => random() < 0.25).map((digest) => [digest, SIZES.get(digest)!]));
          const content = { blobs, tags: Math.floor(random() * 3), manifests: 1 };
          index.set(name, content);
          contents.set(name, content);
        }
        // Asked twice: the second answer comes from what the first counted.
        assert.deepEqual(fromIndex(index), fromScratch(contents), `seed ${seed}, step ${step}`);
        assert.deepEqual(fromIndex(index), fromScratch(contents), `seed ${seed}, step ${step}, again`);
      }
    }
  });
});
