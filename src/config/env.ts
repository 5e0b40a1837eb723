/**
 * Distribution's environment overrides: `REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=/x` sets
 * `storage.filesystem.rootdirectory`. Each `_` is one level down; numbers index lists
 * (`REGISTRY_HTTP_TLS_CLIENTCAS_0`); keys match case-insensitively. Variables are applied in
 * name order, so `REGISTRY_STORAGE` comes before `REGISTRY_STORAGE_…`.
 *
 * Values stay strings, as Distribution reads them into the key's type: the schema turns
 * "false" into a boolean and "100" into a number, and a secret such as "0123" or "1e3" is kept
 * exactly. A value written as a YAML flow list or map (`[a, b]`, `{X-Frame-Options: [DENY]}`)
 * sets a whole list or map. An empty variable changes nothing, as in Distribution.
 *
 * `REGISTRY_STORAGE=<driver>` picks the storage driver: the other drivers' sections are dropped,
 * the settings (delete, maintenance, …) and the chosen driver's own parameters are kept.
 *
 * A few keys have an underscore in their name (`storage.azure.max_retries`); their variables
 * (`REGISTRY_STORAGE_AZURE_MAX_RETRIES`) set them, where Distribution would make a `max.retries`
 * its driver never reads.
 */
import { parse as parseYaml } from 'yaml';
import { CONFIG_YAML } from './yaml.js';

const PREFIX = 'REGISTRY_';
/** Keys of `storage` that are settings, not drivers. */
const STORAGE_SETTINGS = new Set(['delete', 'maintenance', 'redirect', 'cache', 'tag']);

type Tree = Record<string, unknown>;

/** Keys whose names hold an underscore, by the section they are in. */
const COMPOUND_KEYS: Record<string, readonly string[]> = {
  'storage.azure': ['copy_status_poll_max_retry', 'copy_status_poll_delay', 'max_retries', 'retry_delay'],
};

/** Rejoins the words of a compound key that splitting the variable's name at `_` took apart. */
function joinCompoundKeys(segments: string[]): string[] {
  for (const [section, keys] of Object.entries(COMPOUND_KEYS)) {
    const depth = section.split('.').length;
    if (segments.slice(0, depth).join('.') !== section) continue;
    const rest = segments.slice(depth).join('_');
    const key = keys.find((candidate) => rest === candidate || rest.startsWith(`${candidate}_`));
    if (key) return [...segments.slice(0, depth), key, ...segments.slice(depth + key.split('_').length)];
  }
  return segments;
}

export class EnvOverrideError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'EnvOverrideError';
  }
}

function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null;
}

function overrideValue(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
    try {
      const value: unknown = parseYaml(trimmed, CONFIG_YAML);
      if (isTree(value)) return value;
    } catch {
      // Not a flow collection after all: keep the text.
    }
  }
  return text;
}

function existingKey(tree: Tree, wanted: string): string {
  return Object.keys(tree).find((key) => key.toLowerCase() === wanted) ?? wanted;
}

function setPath(root: Tree, segments: string[], value: unknown, variable: string): void {
  let node: Tree = root;
  segments.forEach((segment, index) => {
    const isIndex = /^\d+$/.test(segment);
    if (Array.isArray(node) && !isIndex) {
      throw new EnvOverrideError(
        variable,
        `"${segments.slice(0, index).join('.')}" is a list; expected an index, not "${segment}"`,
      );
    }
    if (Array.isArray(node) && Number(segment) > node.length) {
      throw new EnvOverrideError(
        variable,
        `index ${segment} is past the end of "${segments.slice(0, index).join('.')}" (${node.length} entries; the next index is ${node.length})`,
      );
    }
    const key = Array.isArray(node) ? segment : existingKey(node, segment);
    if (index === segments.length - 1) {
      node[key] = value;
      return;
    }
    if (!isTree(node[key])) node[key] = /^\d+$/.test(segments[index + 1]!) ? [] : {};
    node = node[key] as Tree;
  });
}

function selectStorageDriver(config: Tree, driver: string): void {
  const storage: Tree = isTree(config.storage) ? config.storage : {};
  const chosen = existingKey(storage, driver);
  for (const key of Object.keys(storage)) {
    if (!STORAGE_SETTINGS.has(key.toLowerCase()) && key !== chosen) delete storage[key];
  }
  if (!isTree(storage[chosen])) storage[chosen] = {};
  config.storage = storage;
}

/** A key set from the environment, and the variable that set it. */
export interface EnvOverride {
  key: string;
  variable: string;
  /** Whether the value replaced everything below `key` (false for REGISTRY_STORAGE, which picks a driver). */
  subtree: boolean;
}

/** Applies every `REGISTRY_…` variable to the parsed file; returns what it set. */
export function applyEnvOverrides(config: Tree, env: NodeJS.ProcessEnv): EnvOverride[] {
  const applied: EnvOverride[] = [];
  const names = Object.keys(env)
    .filter((name) => name.startsWith(PREFIX))
    .sort();
  for (const name of names) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    const segments = joinCompoundKeys(name.slice(PREFIX.length).toLowerCase().split('_').filter(Boolean));
    if (segments.length === 0) continue;
    if (segments.length === 1 && segments[0] === 'storage') {
      selectStorageDriver(config, value.trim().toLowerCase());
      applied.push({ key: 'storage', variable: name, subtree: false });
    } else {
      setPath(config, segments, overrideValue(value), name);
      applied.push({ key: segments.join('.'), variable: name, subtree: true });
    }
  }
  return applied;
}
