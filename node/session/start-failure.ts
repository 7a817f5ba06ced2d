/**
 * Tomcat's terminateOnStartFailure for the BackupManager (backup-manager.ts; default false): a start
 * whose state transfer (state-transfer.ts) does not complete fails — CATTERY_ERR_CONTEXT_START_FAILED:
 * a starting node exits (node/main.ts), a later deploy fails — instead of staying not ready while it
 * keeps trying. startFailure decides from the transfer's status; startWithin runs the start with the
 * transfer stopped once stateTransferTimeout passed without it completing.
 */
import { CatteryError } from '../tribes/errors.ts'
import { sessionCodes } from './errors.ts'
import type { TransferStatus } from './state-transfer.ts'

/** The longest a Node.js timer waits (a longer stateTransferTimeout is capped to it). */
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * Why a context's start failed under terminateOnStartFailure, or undefined when it did not (yet):
 * `status` is its state transfer's, `elapsedMs` since the start began. A transfer fails when it is
 * not done within `timeoutMs` (stateTransferTimeout: no donor answered, each failed, or it is too
 * slow), or when it ended after asking a donor without completing (every donor left: the sessions
 * received so far are a partial copy). A transfer with no donor to ask (the first member, members
 * starting together) does not fail: there was nothing to receive.
 */
export function startFailure(
  status: TransferStatus,
  elapsedMs: number,
  timeoutMs: number,
): string | undefined {
  if (status.state === 'done')
    return status.attempts > 0 && status.reason !== undefined
      ? `its state transfer ended incomplete (${status.reason}) after ${status.attempts} attempt(s)`
      : undefined
  if (elapsedMs < timeoutMs) return undefined
  const why = status.reason ? ` (last: ${status.reason})` : ''
  return `its state transfer did not complete within stateTransferTimeout (${timeoutMs / 1000} s, ${status.attempts} attempt(s)${status.donor ? `, last donor ${status.donor}` : ''})${why}`
}

/** Whether a state transfer that ended lets the member become ready (it did not end incomplete). */
export const transferCompleted = (status: TransferStatus): boolean =>
  startFailure(status, 0, Number.POSITIVE_INFINITY) === undefined

/** The state transfer a start runs, as far as terminateOnStartFailure watches it. */
export interface WatchedTransfer {
  status(): TransferStatus
  stop(): void
  readonly stopped: boolean
}

/**
 * Runs `start` (the replicated manager's start: its state transfer); why it failed (startFailure),
 * or undefined: the transfer is stopped once `stateTransferTimeout` (s) passed without it completing.
 */
export async function startWithin(
  transfer: WatchedTransfer,
  stateTransferTimeout: number,
  start: () => Promise<void>,
): Promise<string | undefined> {
  const timeoutMs = Math.min(stateTransferTimeout * 1000, MAX_TIMER_MS)
  const started = Date.now()
  let failure: string | undefined
  const deadline = setTimeout(() => {
    failure = startFailure(transfer.status(), Date.now() - started, timeoutMs)
    if (failure !== undefined) transfer.stop()
  }, timeoutMs)
  try {
    await start()
  } finally {
    clearTimeout(deadline)
  }
  if (failure !== undefined || transfer.stopped) return failure
  return startFailure(transfer.status(), Date.now() - started, Number.POSITIVE_INFINITY)
}

/** The error a context's start fails with under terminateOnStartFailure. */
export const startFailedError = (contextPath: string, failure: string): CatteryError =>
  new CatteryError(
    sessionCodes.CONTEXT_START_FAILED,
    `context ${contextPath} failed to start (manager.terminateOnStartFailure): ${failure}`,
  )
