/** Coded errors of the session layer. */
export const sessionCodes = {
  NOT_REPLICABLE: 'CATTERY_ERR_SESSION_VALUE_NOT_REPLICABLE',
  ATTRIBUTE_TOO_LARGE: 'CATTERY_ERR_SESSION_ATTRIBUTE_TOO_LARGE',
  SESSION_TOO_LARGE: 'CATTERY_ERR_SESSION_TOO_LARGE',
  INVALID_SESSION: 'CATTERY_ERR_SESSION_INVALIDATED',
  TOO_MANY_SESSIONS: 'CATTERY_ERR_TOO_MANY_SESSIONS',
  BAD_ATTRIBUTE_NAME: 'CATTERY_ERR_SESSION_ATTRIBUTE_NAME',
  TOO_MANY_ATTRIBUTES: 'CATTERY_ERR_SESSION_TOO_MANY_ATTRIBUTES',
  VALUE_TOO_DEEP: 'CATTERY_ERR_SESSION_VALUE_TOO_DEEP',
  BAD_INACTIVE_INTERVAL: 'CATTERY_ERR_SESSION_INACTIVE_INTERVAL',
  /** A replicated change or copy that breaks a limit or is not well formed (replicated-checks.ts). */
  REPLICATION_REFUSED: 'CATTERY_ERR_REPLICATION_REFUSED',
  /** State transfer: a session the donor cannot encode is left out of the transfer (and reported). */
  TRANSFER_SKIPPED: 'CATTERY_ERR_TRANSFER_SESSION_SKIPPED',
  /** State transfer: a donor's transfer ended without everything it announced (the joiner retries). */
  TRANSFER_INCOMPLETE: 'CATTERY_ERR_TRANSFER_INCOMPLETE',
  /** State transfer: the chunks of a large session are out of order or over the joiner's bound. */
  TRANSFER_CHUNK_LIMIT: 'CATTERY_ERR_TRANSFER_CHUNK_LIMIT',
  /**
   * BackupManager with terminateOnStartFailure: the context's state transfer did not complete, so
   * it fails to start (and a starting node exits) instead of waiting, not ready.
   */
  CONTEXT_START_FAILED: 'CATTERY_ERR_CONTEXT_START_FAILED',
  /** State transfer: a page, chunk or end from another member than the donor the transfer asked. */
  TRANSFER_NOT_ASKED: 'CATTERY_ERR_TRANSFER_NOT_ASKED',
} as const
