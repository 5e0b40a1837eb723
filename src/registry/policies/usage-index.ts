/**
 * The figures of storage accounting, kept up to date one repository at a time: for every
 * repository the set of digests its manifests need (the manifests themselves, their configs,
 * layers and index children), and across repositories how many repositories and namespaces
 * hold each digest. Replacing one repository's set updates every total in time proportional to
 * that set, so a push never costs a walk of the registry.
 *
 * A namespace is a repository name's first component (`team-a` for `team-a/app/web`).
 */

export interface RepositoryContent {
  /** Digests the repository's manifests need, manifests included, with their stored sizes (0: missing). */
  blobs: ReadonlyMap<string, number>;
  tags: number;
  manifests: number;
}

export interface UsageFigures {
  /** Bytes of the distinct blobs it needs (each counted once within it). */
  logical: number;
  /** Of those, bytes no other repository (namespace) needs. */
  unique: number;
  /** Bytes it shares with at least one other repository (namespace): logical minus unique. */
  shared: number;
}

export interface RepositoryUsage extends UsageFigures {
  name: string;
  namespace: string;
  tags: number;
  manifests: number;
  blobs: number;
}

export interface NamespaceUsage extends UsageFigures {
  name: string;
  repositories: number;
  tags: number;
  blobs: number;
}

export interface UsageTotals {
  /** Bytes of every distinct blob some repository needs: what the registry holds, deduplicated. */
  bytes: number;
  blobs: number;
  repositories: number;
  namespaces: number;
  tags: number;
}

export function namespaceOf(name: string): string {
  const slash = name.indexOf('/');
  return slash === -1 ? name : name.slice(0, slash);
}

interface NamespaceState {
  bytes: number;
  tags: number;
  repositories: number;
  /** Digest → how many of the namespace's repositories need it. */
  holders: Map<string, number>;
  /** Changes whenever the namespace starts or stops needing a digest. */
  version: number;
  /** Its unique bytes as last counted, valid while `version` and the index's `sharing` are unchanged. */
  unique?: { version: number; sharing: number; bytes: number };
}

export class UsageIndex {
  private readonly repositories = new Map<string, { content: RepositoryContent; bytes: number }>();
  private readonly namespaces = new Map<string, NamespaceState>();
  /**
   * Digest → how many repositories need it, and its size as first seen: every figure uses that
   * size until no repository needs the digest, so totals never drift if a size is learnt later.
   */
  private readonly holders = new Map<string, { count: number; size: number }>();
  /** Digest → how many namespaces need it. */
  private readonly namespaceHolders = new Map<string, number>();
  /**
   * Changes whenever a digest goes from one namespace to two or back: what is unique to a
   * namespace may then have changed without the namespace itself changing.
   */
  private sharing = 0;
  private totalBytes = 0;
  private totalTags = 0;
  /** The names in order, kept until a repository is added or removed (a report filters them, never sorts). */
  private sorted: string[] | undefined;

  /** `learnt` gives the stored size of a digest no repository holds (0 for one whose bytes are missing). */
  constructor(private readonly learnt: (digest: string) => number) {}

  private size(digest: string): number {
    return this.holders.get(digest)?.size ?? this.learnt(digest);
  }

  has(name: string): boolean {
    return this.repositories.has(name);
  }

  names(): IterableIterator<string> {
    return this.repositories.keys();
  }

  /** Every repository name, sorted. Do not modify. */
  sortedNames(): readonly string[] {
    this.sorted ??= [...this.repositories.keys()].sort();
    return this.sorted;
  }

  /** What the index holds for a repository. */
  content(name: string): RepositoryContent | undefined {
    return this.repositories.get(name)?.content;
  }

  /** Replaces what the index holds for a repository; undefined removes it. */
  set(name: string, content: RepositoryContent | undefined): void {
    const previous = this.repositories.get(name);
    const ns = namespaceOf(name);
    let namespace = this.namespaces.get(ns);
    if (!namespace) {
      namespace = { bytes: 0, tags: 0, repositories: 0, holders: new Map(), version: 0 };
      this.namespaces.set(ns, namespace);
    }
    const before: ReadonlyMap<string, number> = previous?.content.blobs ?? new Map();
    const after: ReadonlyMap<string, number> = content?.blobs ?? new Map();
    for (const digest of before.keys()) if (!after.has(digest)) this.release(digest, namespace);
    let bytes = 0;
    for (const [digest, size] of after) {
      if (!before.has(digest)) this.hold(digest, size, namespace);
      bytes += this.size(digest);
    }
    const tagsBefore = previous?.content.tags ?? 0;
    this.totalTags += (content?.tags ?? 0) - tagsBefore;
    namespace.tags += (content?.tags ?? 0) - tagsBefore;
    namespace.repositories += (content ? 1 : 0) - (previous ? 1 : 0);
    if (!content !== !previous) this.sorted = undefined;
    if (content) this.repositories.set(name, { content, bytes });
    else this.repositories.delete(name);
    if (namespace.repositories === 0) this.namespaces.delete(ns);
  }

  private hold(digest: string, size: number, namespace: NamespaceState): void {
    const held = this.holders.get(digest);
    if (held) held.count += 1;
    else {
      this.holders.set(digest, { count: 1, size });
      this.totalBytes += size;
    }
    const inNamespace = namespace.holders.get(digest) ?? 0;
    namespace.holders.set(digest, inNamespace + 1);
    if (inNamespace === 0) {
      namespace.bytes += this.size(digest);
      namespace.version += 1;
      const namespaces = this.namespaceHolders.get(digest) ?? 0;
      this.namespaceHolders.set(digest, namespaces + 1);
      if (namespaces === 1) this.sharing += 1;
    }
  }

  private release(digest: string, namespace: NamespaceState): void {
    const size = this.size(digest);
    const held = this.holders.get(digest);
    if (held && held.count > 1) held.count -= 1;
    else {
      this.holders.delete(digest);
      this.totalBytes -= size;
    }
    const inNamespace = (namespace.holders.get(digest) ?? 1) - 1;
    if (inNamespace === 0) {
      namespace.holders.delete(digest);
      namespace.bytes -= size;
      namespace.version += 1;
      const namespaces = (this.namespaceHolders.get(digest) ?? 1) - 1;
      if (namespaces === 1) this.sharing += 1;
      if (namespaces === 0) this.namespaceHolders.delete(digest);
      else this.namespaceHolders.set(digest, namespaces);
    } else namespace.holders.set(digest, inNamespace);
  }

  totals(): UsageTotals {
    return {
      bytes: this.totalBytes,
      blobs: this.holders.size,
      repositories: this.repositories.size,
      namespaces: this.namespaces.size,
      tags: this.totalTags,
    };
  }

  repository(name: string): RepositoryUsage | undefined {
    const entry = this.repositories.get(name);
    if (!entry) return undefined;
    const { content, bytes } = entry;
    let unique = 0;
    for (const digest of content.blobs.keys()) if (this.holders.get(digest)?.count === 1) unique += this.size(digest);
    return {
      name,
      namespace: namespaceOf(name),
      logical: bytes,
      unique,
      shared: bytes - unique,
      tags: content.tags,
      manifests: content.manifests,
      blobs: content.blobs.size,
    };
  }

  namespace(name: string): NamespaceUsage | undefined {
    const namespace = this.namespaces.get(name);
    if (!namespace) return undefined;
    // Counted again only after a change: a namespace of 100,000 repositories holds as many digests.
    const cached = namespace.unique;
    let unique: number;
    if (cached && cached.version === namespace.version && cached.sharing === this.sharing) unique = cached.bytes;
    else {
      unique = 0;
      for (const digest of namespace.holders.keys())
        if (this.namespaceHolders.get(digest) === 1) unique += this.size(digest);
      namespace.unique = { version: namespace.version, sharing: this.sharing, bytes: unique };
    }
    return {
      name,
      logical: namespace.bytes,
      unique,
      shared: namespace.bytes - unique,
      repositories: namespace.repositories,
      tags: namespace.tags,
      blobs: namespace.holders.size,
    };
  }

  namespaceNames(): IterableIterator<string> {
    return this.namespaces.keys();
  }

  /**
   * Bytes `digests` would add to a repository, or to a namespace: those of them it does not
   * already need (a layer another repository of the namespace holds adds nothing to the namespace).
   */
  addedBytes(scope: { repository: string } | { namespace: string }, digests: Iterable<string>): number {
    const present =
      'repository' in scope
        ? (digest: string) => this.repositories.get(scope.repository)?.content.blobs.has(digest) === true
        : (digest: string) => this.namespaces.get(scope.namespace)?.holders.has(digest) === true;
    let added = 0;
    for (const digest of new Set(digests)) if (!present(digest)) added += this.size(digest);
    return added;
  }
}
