// Errors the CLI reports as a message alone (no stack): the user can act on what they say.

/** Thrown by CLI commands when the arguments or the input are not valid. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function isKnownError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  return ['UsageError', 'ConfigError', 'TemporalCliNotFound', 'WorkflowNotFoundError', 'ServiceError', 'WorkflowFailedError', 'WorkflowUpdateFailedError', 'CommandError', 'StackUpFailed', 'PostgresToolsMissing'].includes(e.name);
}
