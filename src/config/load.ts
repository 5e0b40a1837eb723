/**
 * Loads the configuration: the file (or the embedded default), then `REGISTRY_…` environment
 * overrides, then validation. Unknown keys and ignored Distribution sections become warnings;
 * an invalid value stops start-up with a message naming its key.
 *
 * The file is read as YAML 1.1, as Distribution's Go YAML library reads it: `yes`/`no`/`on`/`off`
 * are booleans there too. A key written twice in one mapping keeps its last value, with a warning.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, type ConfigProblem } from './errors.js';
import { isMap, isScalar, isSeq, parseDocument, type Node as YamlNode } from 'yaml';
import { applyEnvOverrides, EnvOverrideError, type EnvOverride } from './env.js';
import { DEFAULT_CONFIG_YAML } from './defaults.js';
import { ignoredKeyWarnings } from './ignored.js';
import { applyImpliedDefaults } from './implied.js';
import { CONFIG_YAML } from './yaml.js';
import { configSchema, IGNORED_SECTIONS, type Config } from './schema.js';

export { ConfigError, type ConfigProblem } from './errors.js';

export interface LoadedConfig {
  config: Config;
  warnings: string[];
  /** Where it came from: a file path, or "default". */
  source: string;
  /** Keys set by `REGISTRY_…` variables (names only: values may be secrets). */
  overrides: string[];
}

type Tree = Record<string, unknown>;

function keyPath(path: readonly PropertyKey[]): string {
  return path.map(String).join('.') || '(top level)';
}

function removeKey(root: unknown, path: readonly PropertyKey[], key: string): void {
  let node: unknown = root;
  for (const segment of path) node = (node as Record<PropertyKey, unknown>)?.[segment];
  if (typeof node === 'object' && node !== null) delete (node as Record<string, unknown>)[key];
}

function child(tree: Tree, key: string): Tree | undefined {
  const value = tree[key];
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Tree) : undefined;
}

/** The variable that set a key, for error messages about values that came from the environment. */
function variableFor(path: string, fromEnvironment: readonly EnvOverride[]): string | undefined {
  const override = fromEnvironment.find(({ key, subtree }) => path === key || (subtree && path.startsWith(`${key}.`)));
  return override?.variable;
}

/**
 * Validates a raw configuration tree (already merged with environment overrides, which
 * `fromEnvironment` lists so that errors can name the variable).
 */
export function validateConfig(
  raw: unknown,
  fromEnvironment: readonly EnvOverride[] = [],
): { config: Config; warnings: string[] } {
  const warnings: string[] = [];
  const tree = (raw ?? {}) as Tree;
  for (const section of IGNORED_SECTIONS) {
    if (tree[section] !== undefined)
      warnings.push(`configuration: "${section}" is not supported by Berth yet; ignored`);
  }
  warnings.push(...ignoredKeyWarnings(tree));
  // `loglevel` is Distribution's old spelling of `log.level`, which wins when both are set.
  const explicitLevel = child(tree, 'log')?.level !== undefined;
  if (tree.loglevel !== undefined) warnings.push('configuration: "loglevel" is deprecated; use "log.level"');

  // Strict objects report unknown keys; those become warnings and are dropped, then we retry.
  for (let attempt = 0; attempt < 50; attempt++) {
    const result = configSchema.safeParse(tree);
    if (result.success) {
      const config = result.data;
      if (config.loglevel !== undefined && !explicitLevel) config.log.level = config.loglevel;
      applyImpliedDefaults(config);
      return { config, warnings };
    }
    const unknown = result.error.issues.filter((issue) => issue.code === 'unrecognized_keys');
    const fatal = result.error.issues.filter((issue) => issue.code !== 'unrecognized_keys');
    if (fatal.length > 0) {
      const problems = fatal.map((issue): ConfigProblem => {
        const path = keyPath(issue.path);
        return { path, variable: variableFor(path, fromEnvironment), message: issue.message };
      });
      const lines = problems.map(
        ({ path, variable, message }) => `  ${path}${variable ? ` (set by ${variable})` : ''}: ${message}`,
      );
      throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`, problems);
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

/** Key paths written more than once in the same mapping (the last one is used). */
function duplicateKeys(node: unknown, path: string[] = []): string[] {
  const found: string[] = [];
  if (isMap(node)) {
    const seen = new Set<string>();
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      if (seen.has(key)) found.push([...path, key].join('.'));
      seen.add(key);
      found.push(...duplicateKeys(pair.value, [...path, key]));
    }
  } else if (isSeq(node)) {
    for (const [index, item] of node.items.entries())
      found.push(...duplicateKeys(item as YamlNode, [...path, String(index)]));
  }
  return found;
}

/** Parses configuration text as YAML 1.1 (Distribution's dialect); returns the tree and warnings. */
export function parseConfigText(text: string, source: string): { raw: Tree; warnings: string[] } {
  const document = parseDocument(text, { ...CONFIG_YAML, uniqueKeys: false });
  if (document.errors.length > 0) {
    throw new ConfigError(`configuration file ${source} is not valid YAML: ${document.errors[0]!.message}`);
  }
  const warnings = duplicateKeys(document.contents).map(
    (path) => `configuration: key "${path}" is written more than once; the last value is used`,
  );
  const raw: unknown = document.toJS() ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`configuration file ${source} must be a YAML mapping`);
  }
  return { raw: raw as Tree, warnings };
}

export function loadConfig(path: string | undefined, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const source = path ?? 'default';
  let text = DEFAULT_CONFIG_YAML;
  if (path) {
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new ConfigError(`cannot read configuration file ${path}: ${(error as Error).message}`);
    }
  }
  const { raw, warnings: parseWarnings } = parseConfigText(text, path ?? '(built-in default)');
  let overrides: EnvOverride[];
  try {
    overrides = applyEnvOverrides(raw, env);
  } catch (error) {
    if (error instanceof EnvOverrideError) throw new ConfigError(`invalid environment override ${error.message}`);
    throw error;
  }
  try {
    const { config, warnings } = validateConfig(raw, overrides);
    return { config, warnings: [...parseWarnings, ...warnings], source, overrides: overrides.map(({ key }) => key) };
  } catch (error) {
    if (error instanceof ConfigError && path) {
      throw new ConfigError(
        error.message.replace(/^invalid configuration/, `invalid configuration in ${path}`),
        error.problems,
      );
    }
    throw error;
  }
}
