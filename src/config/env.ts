/**
 * Distribution's environment overrides: `REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=/x` sets
 * `storage.filesystem.rootdirectory`. Each `_` is one level down; numbers index lists; keys match
 * case-insensitively; values are read as YAML scalars (so `true` and `5000` keep their types).
 * `REGISTRY_STORAGE=<driver>` picks the storage driver, dropping the one the file names.
 */
import { parse as parseYaml } from 'yaml';

const PREFIX = 'REGISTRY_';
/** Keys of `storage` that are settings, not drivers. */
const STORAGE_SETTINGS = new Set(['delete', 'maintenance', 'redirect', 'cache', 'tag']);

type Tree = Record<string, unknown>;

function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null;
}

function scalar(text: string): unknown {
  try {
    const value: unknown = parseYaml(text);
    return value === null ? text : value;
  } catch {
    return text;
  }
}

function existingKey(tree: Tree, wanted: string): string {
  return Object.keys(tree).find((key) => key.toLowerCase() === wanted) ?? wanted;
}

function setPath(root: Tree, segments: string[], value: unknown): void {
  let node: Tree = root;
  segments.forEach((segment, index) => {
    const key = existingKey(node, segment);
    if (index === segments.length - 1) {
      node[key] = value;
      return;
    }
    if (!isTree(node[key])) node[key] = /^\d+$/.test(segments[index + 1]!) ? [] : {};
    node = node[key] as Tree;
  });
}

/** Applies every `REGISTRY_…` variable to the parsed file; returns the keys it set. */
export function applyEnvOverrides(config: Tree, env: NodeJS.ProcessEnv): string[] {
  const applied: string[] = [];
  const names = Object.keys(env).filter((name) => name.startsWith(PREFIX)).sort();
  for (const name of names) {
    const value = env[name];
    if (value === undefined) continue;
    const segments = name.slice(PREFIX.length).toLowerCase().split('_').filter(Boolean);
    if (segments.length === 0) continue;
    if (segments.length === 1 && segments[0] === 'storage') {
      const storage: Tree = isTree(config.storage) ? config.storage : {};
      for (const key of Object.keys(storage)) if (!STORAGE_SETTINGS.has(key)) delete storage[key];
      storage[value.toLowerCase()] = {};
      config.storage = storage;
    } else {
      setPath(config, segments, scalar(value));
    }
    applied.push(segments.join('.'));
  }
  return applied;
}
