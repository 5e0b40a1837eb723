/**
 * A JSON Schema of config.yml, generated from the zod schema the server validates with, so it
 * follows every key added there. Checked in as config/config.schema.json (a test keeps it
 * current: `npm run config-schema` writes it); editors read it through the
 * `# yaml-language-server: $schema=…` comment (docs/configuration.md). It describes what may be
 * written (zod's input side): `"true"` where a boolean goes, numbers where text goes, as
 * Distribution's loose YAML reading accepts them.
 */
import { z } from 'zod';
import { configSchema } from './schema.js';

export function configJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any', target: 'draft-7' });
  return {
    ...generated,
    title: 'Berth configuration (config.yml, CNCF Distribution keys and berth.*)',
    description: 'Generated from src/config/schema.ts by `npm run config-schema`; see docs/configuration.md.',
  };
}

export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
