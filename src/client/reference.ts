/**
 * Image references as people type them: `[registry/]repository[:tag][@digest]`, with Docker's
 * rules for the registry part (a first component with a dot, a colon or `localhost` is a host;
 * otherwise Docker Hub and `library/`). Also where a registry is reached: plain HTTP for loopback
 * hosts (as docker does), HTTPS for everything else unless told otherwise.
 */
import { isValidName, isValidTag, parseDigest } from '../api/reference.js';
import { ClientError } from './errors.js';

export const DOCKER_HUB = 'docker.io';
/** Where Docker Hub's API lives, and the key Docker's config.json uses for its credentials. */
export const DOCKER_HUB_API = 'registry-1.docker.io';
export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

export interface ImageReference {
  /** `host[:port]`, as written (docker.io for Docker Hub). */
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

/** What to ask the registry for: the digest when there is one, else the tag, else `latest`. */
export function referenceOf(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

export function formatReference(ref: ImageReference): string {
  let text = `${ref.registry}/${ref.repository}`;
  if (ref.tag) text += `:${ref.tag}`;
  if (ref.digest) text += `@${ref.digest}`;
  return text;
}

function looksLikeHost(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost' || component.startsWith('[');
}

/** Parses `[registry/]repository[:tag][@digest]`; without tag or digest the tag is `latest` unless `allowTagless`. */
export function parseImageReference(text: string, options: { allowTagless?: boolean } = {}): ImageReference {
  const input = text.replace(/^docker:\/\//, '');
  const usage = (why: string) =>
    new ClientError('usage', `invalid image reference "${text}": ${why}`, {
      hint: 'write it as registry/repository[:tag][@digest], e.g. localhost:5000/team/app:1.0',
    });
  if (!input) throw usage('it is empty');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    const parsed = parseDigest(digest);
    if (!parsed.ok) throw usage(parsed.reason);
  }
  // `localhost:5000` or `registry.example.com:5000` alone is a registry with the repository
  // forgotten, not Docker Hub's `library/localhost` at tag 5000 (`redis:7`, `my.app` stay Docker Hub's).
  if (!rest.includes('/') && /^(localhost(:\d+)?|\[[^\]]*\](:\d+)?|[^:/]*\.[^:/]*:\d+)$/.test(rest))
    throw new ClientError('usage', `"${text}" names a registry but no repository`, {
      hint: `add the repository after the registry, e.g. ${rest}/team/app`,
    });
  let registry = DOCKER_HUB;
  const slash = rest.indexOf('/');
  if (slash !== -1 && looksLikeHost(rest.slice(0, slash))) {
    registry = rest.slice(0, slash);
    rest = rest.slice(slash + 1);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon !== -1) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isValidTag(tag)) throw usage(`"${tag}" is not a valid tag`);
  }
  let repository = rest;
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (!isValidName(repository))
    throw usage(`"${repository}" is not a valid repository name (lowercase letters, digits, separators . _ - and /)`);
  if (!tag && !digest && !options.allowTagless) tag = 'latest';
  const ref: ImageReference = { registry, repository };
  if (tag) ref.tag = tag;
  if (digest) ref.digest = digest;
  return ref;
}

/** `host[:port]` from what a user typed for a registry (`https://host/`, `host:5000`, …). */
export function normalizeRegistryHost(text: string): string {
  let host = text.trim().replace(/^[a-z]+:\/\//i, '');
  host = host.replace(/\/.*$/, '');
  if (!host)
    throw new ClientError('usage', `invalid registry "${text}"`, {
      hint: 'give a host name with an optional port, e.g. localhost:5000',
    });
  if (host === 'index.docker.io' || host === DOCKER_HUB_API) return DOCKER_HUB;
  return host;
}

/** The host name of `host[:port]` or `[v6]:port`, without the port. */
export function hostName(registry: string): string {
  if (registry.startsWith('[')) return registry.slice(1, registry.indexOf(']'));
  const colon = registry.lastIndexOf(':');
  return colon === -1 ? registry : registry.slice(0, colon);
}

/** Loopback hosts, where docker and podman speak plain HTTP without being told. */
export function isLoopback(registry: string): boolean {
  const name = hostName(registry).toLowerCase();
  return name === 'localhost' || name === '::1' || /^127\.\d+\.\d+\.\d+$/.test(name) || name.endsWith('.localhost');
}

/** The base URL of a registry's API: `plainHttp` forces http, otherwise loopback means http. */
export function registryBaseUrl(registry: string, options: { plainHttp?: boolean } = {}): string {
  const host = registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
  const scheme =
    options.plainHttp === true || (options.plainHttp === undefined && isLoopback(registry)) ? 'http' : 'https';
  return `${scheme}://${host}`;
}
