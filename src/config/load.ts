/**
 * Loads the configuration: the file (or the embedded default), then `REGISTRY_…` environment
 * overrides, then validation. Unknown keys and ignored Distribution sections become warnings;
 * an invalid value stops start-up with a message naming its key.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { applyEnvOverrides } from './env.js';
import { DEFAULT_CONFIG_YAML } from './defaults.js';
import { configSchema, IGNORED_SECTIONS, type Config } from './schema.js';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig {
  config: Config;
  warnings: string[];
  /** Where it came from: a file path, or "default". */
  source: string;
}

function keyPath(path: readonly PropertyKey[]): string {
  return path.map(String).join('.') || '(top level)';
}

function removeKey(root: unknown, path: readonly PropertyKey[], key: string): void {
  let node: unknown = root;
  for (const segment of path) node = (node as Record<PropertyKey, unknown>)?.[segment];
  if (typeof node === 'object' && node !== null) delete (node as Record<string, unknown>)[key];
}

/** Validates a raw configuration tree (already merged with environment overrides). */
export function validateConfig(raw: unknown): { config: Config; warnings: string[] } {
  const warnings: string[] = [];
  const tree = (raw ?? {}) as Record<string, unknown>;
  for (const section of IGNORED_SECTIONS) {
    if (tree[section] !== undefined) warnings.push(`configuration: "${section}" is not supported by Berth yet; ignored`);
  }
  // Strict objects report unknown keys; those become warnings and are dropped, then we retry.
  for (let attempt = 0; attempt < 50; attempt++) {
    const result = configSchema.safeParse(tree);
    if (result.success) return { config: result.data, warnings };
    const unknown = result.error.issues.filter((issue) => issue.code === 'unrecognized_keys');
    const fatal = result.error.issues.filter((issue) => issue.code !== 'unrecognized_keys');
    if (fatal.length > 0) {
      const lines = fatal.map((issue) => `  ${keyPath(issue.path)}: ${issue.message}`);
      throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
    }
    for (const issue of unknown) {
      for (const key of issue.keys) {
        warnings.push(`configuration: unknown key "${keyPath([...issue.path, key])}" ignored`);
        removeKey(tree, issue.path, key);
      }
    }
  }
  throw new ConfigError('invalid configuration');
}

export function loadConfig(path: string | undefined, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let text = DEFAULT_CONFIG_YAML;
  if (path) {
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new ConfigError(`cannot read configuration file ${path}: ${(error as Error).message}`);
    }
  }
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (error) {
    throw new ConfigError(`configuration file ${path ?? '(default)'} is not valid YAML: ${(error as Error).message}`);
  }
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError('configuration must be a YAML mapping');
  applyEnvOverrides(raw as Record<string, unknown>, env);
  const { config, warnings } = validateConfig(raw);
  return { config, warnings, source: path ?? 'default' };
}
