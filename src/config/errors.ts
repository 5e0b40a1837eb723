/**
 * The error of an invalid configuration or command-line value: the CLI prints its message and
 * exits with the usage code. Apart from the loader, so commands can throw it without loading the
 * configuration schema.
 */

/** One invalid value: its key path, the variable that set it (if any), what is wrong. */
export interface ConfigProblem {
  path: string;
  variable?: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(
    message: string,
    /** Each invalid value, for `berth config check`; empty when the error is about the whole file. */
    readonly problems: readonly ConfigProblem[] = [],
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}
