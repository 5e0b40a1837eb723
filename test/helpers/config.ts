/** Checks on configurations that must be refused. */
import assert from 'node:assert/strict';
import { ConfigError, validateConfig } from '../../src/config/load.js';

/** The message a configuration tree is refused with; fails when it is accepted. */
export function refusedConfig(raw: unknown): string {
  try {
    validateConfig(raw);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  assert.fail('the configuration was accepted');
}
