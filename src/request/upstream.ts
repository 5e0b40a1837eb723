/**
 * Which upstream registry, if any, a repository of a request belongs to (pull-through caching,
 * docs/proxy.md). Decided here, from the one parsed request target, so the route every later
 * layer reads (access rules, rate limits, dispatch, logs) already names the cached repository:
 *
 *   proxy: (Distribution's)        every repository mirrors the one upstream, under its own name
 *   /v2/docker.io/library/nginx/…  path prefix: upstream "docker.io", remote "library/nginx"
 *   /v2/library/nginx/…?ns=docker.io  containerd's mirror request: the same repository
 *   /v2/docker.io/nginx/…          Docker Hub's default namespace: remote "library/nginx"
 *
 * With `berth.proxy`, the local name of a cached repository is `<upstream>/<remote name>`
 * (`docker.io/library/nginx`), whichever way it was asked for, so access rules name it one way
 * and both spellings share one cache. Repositories no upstream claims are ordinary ones.
 */

/** The upstream of Distribution's `proxy:` section (the registry mirrors it as a whole). */
export const MIRROR_UPSTREAM = 'proxy';
/** Docker Hub, whose one-component names live in `library/`. */
const DOCKER_HUB = 'docker.io';

export interface UpstreamClaim {
  /** The configured upstream's name (MIRROR_UPSTREAM for Distribution's `proxy:`). */
  upstream: string;
  /** The repository's name at the upstream. */
  remote: string;
}

export interface UpstreamSettings {
  /** Distribution's `proxy:` is configured: every repository is the mirror's. */
  mirror: boolean;
  /** `berth.proxy.upstreams` names. */
  names: readonly string[];
}

export class UpstreamTable {
  private readonly names: ReadonlySet<string>;

  constructor(private readonly settings: UpstreamSettings) {
    this.names = new Set(settings.names);
  }

  get enabled(): boolean {
    return this.settings.mirror || this.names.size > 0;
  }

  /** The local repository name and its upstream claim, or undefined for an ordinary repository. */
  claim(name: string, query: URLSearchParams): { local: string; claim: UpstreamClaim } | undefined {
    if (this.settings.mirror) return { local: name, claim: { upstream: MIRROR_UPSTREAM, remote: name } };
    const slash = name.indexOf('/');
    const first = slash === -1 ? '' : name.slice(0, slash);
    if (this.names.has(first)) return this.claimed(first, name.slice(slash + 1));
    const ns = query.get('ns');
    if (ns !== null && this.names.has(ns)) return this.claimed(ns, name);
    return undefined;
  }

  private claimed(upstream: string, remoteName: string): { local: string; claim: UpstreamClaim } {
    const remote = upstream === DOCKER_HUB && !remoteName.includes('/') ? `library/${remoteName}` : remoteName;
    return { local: `${upstream}/${remote}`, claim: { upstream, remote } };
  }
}
