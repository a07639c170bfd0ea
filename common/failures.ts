// One map of failure type names. Activities throw ApplicationFailure with one of these types; the
// workflows' retry policies list the ones that retrying cannot fix.
export const Failure = {
  /** The backup file or its manifest is missing. */
  BackupMissing: 'BackupMissing',
  /** The backup file does not match its manifest, or a block cannot be read back. */
  BackupDamaged: 'BackupDamaged',
  /** A restored database does not match the manifest it was restored from. */
  RestoreMismatch: 'RestoreMismatch',
  /** A precondition of a destructive step does not hold; nothing was changed. */
  PreconditionFailed: 'PreconditionFailed',
  /** The configuration or the input is not valid. */
  InvalidInput: 'InvalidInput',
  /** A command exited non-zero. Retryable: most are transient (server restarting, lock held). */
  CommandFailed: 'CommandFailed',
} as const;

export type FailureType = (typeof Failure)[keyof typeof Failure];

/** Types that a retry cannot fix: the workflow stops and reports instead. */
export const nonRetryable: FailureType[] = [
  Failure.BackupMissing,
  Failure.BackupDamaged,
  Failure.RestoreMismatch,
  Failure.PreconditionFailed,
  Failure.InvalidInput,
];
