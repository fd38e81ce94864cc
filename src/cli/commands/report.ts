/** Shared output for config problems: one line per problem, so scripts can grep them. */
import { ConfigError } from '../../config/index.js';

/** Exit code for an invalid or unreadable config file. */
export const EXIT_BAD_CONFIG = 2;

/**
 * Print a ConfigError for `file` to stderr and set the bad-config exit code.
 * Anything else is rethrown: it is a bug, not a user mistake.
 */
export function reportConfigError(file: string, err: unknown): void {
  if (!(err instanceof ConfigError)) throw err;
  const lines =
    err.reason === 'unreadable'
      ? [`${file}: ${err.problems.join('; ')}`]
      : [`${file}: invalid`, ...err.problems];
  process.stderr.write(lines.join('\n') + '\n');
  process.exitCode = EXIT_BAD_CONFIG;
}
