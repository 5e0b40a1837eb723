/**
 * `berth config check FILE`, `berth config print FILE`, `berth config schema`: a configuration
 * file's problems with their key paths and lines; the effective configuration after
 * `REGISTRY_…` overrides, secrets redacted; the JSON Schema of config.yml (docs/configuration.md).
 */
import type { Command } from 'commander';
import { pino } from 'pino';
import { createAuthSetup } from '../../auth/settings.js';
import { checkConfigFile, effectiveConfigText, formatFinding, locate, type Finding } from '../../config/check.js';
import { ConfigError, loadConfig } from '../../config/load.js';
import { configJsonSchemaText } from '../../config/json-schema.js';

/**
 * What start-up checks beyond the schema, for a file the schema accepts: the htpasswd file, keys
 * and certificates of `auth` (a directory where a file belongs, a hash other than bcrypt, …).
 */
function startUpFindings(file: string): Finding[] {
  try {
    createAuthSetup(loadConfig(file).config, pino({ level: 'silent' }));
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const path = error.message.startsWith('htpasswd path') ? 'auth.htpasswd.path' : 'auth';
    return [locate(file, { severity: 'error', path, message: error.message })];
  }
}

export function registerConfig(program: Command): void {
  const config = program.command('config').description('check, show and describe configuration files');
  config
    .command('check')
    .argument('<file>', 'config.yml to check')
    .description('print every problem (errors and warnings) with its key path and line; exit 2 on errors')
    .action((file: string) => {
      const findings = checkConfigFile(file);
      if (!findings.some((finding) => finding.severity === 'error')) findings.push(...startUpFindings(file));
      for (const finding of findings) console.log(formatFinding(file, finding));
      const errors = findings.filter((finding) => finding.severity === 'error').length;
      const warnings = findings.length - errors;
      console.log(
        `${file}: ${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}`,
      );
      if (errors > 0) process.exitCode = 2;
    });
  config
    .command('print')
    .argument('<file>', 'config.yml to read')
    .description(
      'print the configuration as Berth runs it: REGISTRY_ overrides applied, unknown keys dropped, secrets redacted',
    )
    .action((file: string) => {
      process.stdout.write(effectiveConfigText(file));
    });
  config
    .command('schema')
    .description('print the JSON Schema of config.yml (the one in config/config.schema.json)')
    .action(() => {
      process.stdout.write(configJsonSchemaText());
    });
}
