/** Thrown by a sub-command for bad command-line syntax; the CLI prints it and exits 2. */
export class CliUsageError extends Error {
  override readonly name = 'CliUsageError';
}
