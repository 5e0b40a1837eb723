/**
 * Layers that clients fetch from elsewhere (Docker's foreign layers, OCI's non-distributable
 * ones) name their `urls` in the manifest. Distribution's `validation` section decides which
 * URLs a pushed manifest may carry, and Berth applies it the same way:
 *   - every URL must be http or https without a fragment;
 *   - unless `validation.disabled`, it must also match one of `manifests.urls.allow` and none of
 *     `manifests.urls.deny`; with no `allow` list, no URL is accepted (Distribution's default);
 *   - a Docker foreign layer must carry at least one URL.
 * A layer with URLs is not looked for in the repository (its bytes live elsewhere).
 */
import { RegistryError } from '../../api/errors.js';
import type { ParsedDescriptor } from './parse.js';

const DOCKER_FOREIGN_LAYER = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip';

export interface LayerUrlRules {
  /** `validation.disabled` (or `enabled: false`): only the scheme and fragment are checked. */
  disabled: boolean;
  /** `validation.manifests.urls.allow` and `deny`, regular expressions. */
  allow: readonly RegExp[];
  deny: readonly RegExp[];
}

/** Distribution's default: validation on, nothing allowed. */
export const DEFAULT_LAYER_URL_RULES: LayerUrlRules = { disabled: false, allow: [], deny: [] };

function refused(layer: ParsedDescriptor, url: string | undefined, why: string): RegistryError {
  return new RegistryError('MANIFEST_INVALID', `layer ${layer.digest.value}: ${why}`, {
    digest: layer.digest.value,
    ...(url === undefined ? {} : { url }),
  });
}

function urlProblem(url: string, rules: LayerUrlRules): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a URL';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return 'is not an http or https URL';
  if (parsed.hash !== '' || url.includes('#')) return 'has a fragment';
  if (rules.disabled) return undefined;
  if (!rules.allow.some((pattern) => pattern.test(url)))
    return rules.allow.length === 0
      ? 'is not allowed: configure validation.manifests.urls.allow to accept layers fetched from elsewhere'
      : 'matches no pattern of validation.manifests.urls.allow';
  if (rules.deny.some((pattern) => pattern.test(url))) return 'matches validation.manifests.urls.deny';
  return undefined;
}

/**
 * Checks the URLs of a manifest's layers; returns the layers whose bytes must be in the
 * repository (those without URLs).
 */
export function checkLayerUrls(layers: readonly ParsedDescriptor[], rules: LayerUrlRules): ParsedDescriptor[] {
  const stored: ParsedDescriptor[] = [];
  for (const layer of layers) {
    const urls = layer.urls ?? [];
    if (urls.length === 0) {
      if (layer.mediaType === DOCKER_FOREIGN_LAYER) throw refused(layer, undefined, 'a foreign layer needs urls');
      stored.push(layer);
      continue;
    }
    for (const url of urls) {
      const problem = urlProblem(url, rules);
      if (problem) throw refused(layer, url, `URL ${JSON.stringify(url)} ${problem}`);
    }
  }
  return stored;
}
