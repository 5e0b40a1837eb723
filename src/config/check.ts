/**
 * `berth config check` and `berth config print`: a configuration file read as `berth serve`
 * reads it (YAML 1.1, `REGISTRY_…` overrides, the schema), but every problem is reported with
 * its key path and the line of the file it is on, and the effective configuration can be shown
 * with secrets redacted.
 */
import { readFileSync } from 'node:fs';
import { isMap, isScalar, LineCounter, parseDocument, stringify, type Document } from 'yaml';
import { applyEnvOverrides, EnvOverrideError } from './env.js';
import { ConfigError, parseConfigText, validateConfig } from './load.js';
import { CONFIG_YAML } from './yaml.js';

export interface Finding {
  severity: 'error' | 'warning';
  /** The key path (`http.addr`); undefined for a problem of the whole file. */
  path?: string;
  /** 1-based line of the key in the file, or of its closest ancestor that is written there. */
  line?: number;
  /** The variable that set the value, when it came from the environment. */
  variable?: string;
  message: string;
}

/** The line of the deepest key of `path` written in the document. */
function lineOf(document: Document, lines: LineCounter, path: string): number | undefined {
  let node: unknown = document.contents;
  let line: number | undefined;
  for (const segment of path.split('.')) {
    if (!isMap(node)) break;
    const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === segment);
    if (!pair) break;
    const offset = (pair.key as { range?: [number, number, number] }).range?.[0];
    if (offset !== undefined) line = lines.linePos(offset).line;
    node = pair.value;
  }
  return line;
}

/** Warnings name their key in the first quotes (`configuration: "storage.cache" is ignored…`). */
function warningPath(warning: string): string | undefined {
  return /"([^"]+)"/.exec(warning)?.[1];
}

/** Reads, overrides and validates; `raw` is the tree after overrides, unknown keys dropped. */
function examine(
  path: string,
  env: NodeJS.ProcessEnv,
): { findings: Finding[]; raw?: Record<string, unknown>; valid: boolean } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    return {
      findings: [{ severity: 'error', message: `cannot read ${path}: ${(error as Error).message}` }],
      valid: false,
    };
  }
  const lines = new LineCounter();
  const document = parseDocument(text, { ...CONFIG_YAML, uniqueKeys: false, lineCounter: lines });
  if (document.errors.length > 0) {
    const findings = document.errors.map(
      (error): Finding => ({
        severity: 'error',
        line: error.linePos?.[0].line,
        message: error.message.split('\n')[0]!,
      }),
    );
    return { findings, valid: false };
  }
  const findings: Finding[] = [];
  const warn = (warning: string) => {
    const key = warningPath(warning);
    findings.push({
      severity: 'warning',
      path: key,
      line: key ? lineOf(document, lines, key) : undefined,
      message: warning.replace(/^configuration: /, ''),
    });
  };
  try {
    const { raw, warnings: parseWarnings } = parseConfigText(text, path);
    parseWarnings.forEach(warn);
    const overrides = applyEnvOverrides(raw, env);
    try {
      const { warnings } = validateConfig(raw, overrides);
      warnings.forEach(warn);
      return { findings, raw, valid: true };
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      if (error.problems.length === 0) findings.push({ severity: 'error', message: error.message });
      for (const problem of error.problems)
        findings.push({ severity: 'error', ...problem, line: lineOf(document, lines, problem.path) });
      return { findings, raw, valid: false };
    }
  } catch (error) {
    if (error instanceof ConfigError || error instanceof EnvOverrideError)
      return { findings: [...findings, { severity: 'error', message: error.message }], valid: false };
    throw error;
  }
}

/** `finding` with the line of its key in the file, for findings made outside this module. */
export function locate(path: string, finding: Finding): Finding {
  if (!finding.path) return finding;
  const lines = new LineCounter();
  const document = parseDocument(readFileSync(path, 'utf8'), { ...CONFIG_YAML, uniqueKeys: false, lineCounter: lines });
  return { ...finding, line: lineOf(document, lines, finding.path) };
}

/** Every problem of a configuration file, errors and warnings, in file order. */
export function checkConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): Finding[] {
  const { findings } = examine(path, env);
  return findings.sort((a, b) => (a.line ?? Number.MAX_SAFE_INTEGER) - (b.line ?? Number.MAX_SAFE_INTEGER));
}

/** One finding as a line: `config.yml:12: error: http.addr: …`. */
export function formatFinding(file: string, finding: Finding): string {
  const where = finding.line === undefined ? file : `${file}:${finding.line}`;
  const key =
    finding.severity === 'error' && finding.path
      ? `${finding.path}${finding.variable ? ` (set by ${finding.variable})` : ''}: `
      : '';
  return `${where}: ${finding.severity}: ${key}${finding.message}`;
}

/** Keys whose values are credentials, wherever they are (redis.password, storage.s3.secretkey, …). */
const SECRET_KEY =
  /password|secret|accesskey|sessiontoken|accountkey|apikey|licensekey|authorization|credential|connectionstring/i;

function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, child]) => [key, SECRET_KEY.test(key) ? '<redacted>' : redact(child)]),
  );
}

/**
 * The configuration as Berth runs it: the file with `REGISTRY_…` overrides applied and unknown
 * keys dropped, secrets redacted, as YAML. Throws ConfigError when it is not valid.
 */
export function effectiveConfigText(path: string, env: NodeJS.ProcessEnv = process.env): string {
  const { findings, raw, valid } = examine(path, env);
  if (!valid || !raw) {
    const errors = findings.filter((finding) => finding.severity === 'error').map((f) => formatFinding(path, f));
    throw new ConfigError(`invalid configuration:\n  ${errors.join('\n  ')}`);
  }
  return stringify(redact(raw), { version: '1.1' });
}
