/**
 * The joiner's fetch loop of state transfer (state-transfer.ts): which ready member to ask next, and
 * when the joiner may start. It asks the longest-running ready member first; when an attempt does not
 * complete (transfer-receiver.ts says why) it asks the next one, and goes round the ready members
 * again after retryPauseMs for as long as one is alive: it **never starts with a partial copy while a
 * member that holds sessions is alive**. A donor that does not know this member yet is asked again
 * every NOT_YET_KNOWN_RETRY_MS for the first NOT_YET_KNOWN_WAIT_MS instead. After timeoutSeconds it
 * logs an error once (and keeps trying). Only when no ready member is left does it end with what it
 * has.
 *
 * With fromEveryDonor it needs a complete transfer from every ready member, each asked with the
 * donors of the request (joiner-share.ts); when a donor leaves or stops being ready before completing,
 * those that completed with it among their donors are asked again for its part.
 */
import type { Logger } from 'pino'
import type { Channel } from '../tribes/channel-types.ts'
import { describeMember, type Member, memberId } from '../tribes/member.ts'
import { sessionCodes } from './errors.ts'
import { writerOf } from './rank.ts'
import { NOT_YET_KNOWN, type TransferStatus } from './transfer-receiver.ts'
import type { TransferScope } from './transfer-request.ts'

/**
 * A donor that refused the request because this member is not in its view yet (NOT_YET_KNOWN) is
 * asked again every NOT_YET_KNOWN_RETRY_MS for the first NOT_YET_KNOWN_WAIT_MS of the transfer,
 * instead of after a whole round's pause (retryPauseMs, 1 s).
 */
const NOT_YET_KNOWN_RETRY_MS = 50
const NOT_YET_KNOWN_WAIT_MS = 5_000

export interface JoinerFetchOptions {
  channel: Channel
  logger: Logger
  /** Seconds after which a joiner still waiting logs an error (it keeps trying while donors live). */
  timeoutSeconds: number
  /** Pause before going round the ready members again. */
  retryPauseMs: number
  /** A complete transfer from every ready member is needed, not one. */
  fromEveryDonor: boolean
  /**
   * The joiner's status, fresh: `since` is when the fetch started. The loop records its attempts,
   * reasons and end there.
   */
  status: TransferStatus
  /** One attempt from one donor: undefined when complete, otherwise why not. */
  fetchFrom(donor: Member, scope?: TransferScope): Promise<string | undefined>
  /** Waits `ms`, or less when the transfer is stopped. */
  pause(ms: number): Promise<void>
  stopped(): boolean
  /** Sessions received so far (for the log when no ready member is left). */
  received(): number
}

/**
 * Asks the ready members in turn until one transfer completed (every ready member's, with
 * fromEveryDonor), no ready member is left, or the transfer is stopped.
 */
export async function fetchFromDonors(o: JoinerFetchOptions): Promise<void> {
  const { logger, channel, timeoutSeconds, status } = o
  const started = status.since
  const deadline = started + timeoutSeconds * 1000
  let overdue = false
  const tried = new Set<string>()
  /** Donors whose transfer completed (fromEveryDonor), by member id: its writer id and the donors it was asked with. */
  const done = new Map<string, { writer: string; donors: string[] }>()
  while (!o.stopped()) {
    const ready = channel
      .members()
      .filter((m) => m.ready)
      .sort((a, b) => a.startTime - b.startTime)
    if (ready.length === 0) {
      // Nobody holds sessions: this member is the first, starts together with the others, or
      // every member that held them is gone.
      if (status.attempts === 0) {
        status.reason = 'no ready member to ask'
        logger.info(
          { members: channel.members().map(describeMember) },
          'no ready member to ask for sessions: starting with none',
        )
      } else {
        status.reason = 'no ready member is left to ask'
        logger.warn(
          { received: o.received() },
          'no ready member is left to ask for sessions; starting with the sessions received so far',
        )
      }
      break
    }
    let scope: TransferScope | undefined
    let redo = (_id: string) => false
    if (o.fromEveryDonor) {
      const readyW = new Set(ready.map(writerOf))
      const doneW = new Set([...done.values()].map((d) => d.writer))
      scope = { donors: [...new Set([...readyW, ...doneW])] }
      // A completed donor left the part of another donor to it, and that one left (or stopped
      // being ready) without completing: asked again for that part.
      redo = (id) => done.get(id)?.donors.some((w) => !readyW.has(w) && !doneW.has(w)) ?? false
      if (ready.every((m) => done.has(memberId(m)) && !redo(memberId(m)))) {
        status.reason = undefined
        break
      }
    }
    const donor = ready.find((m) => !tried.has(memberId(m)) && (!done.has(memberId(m)) || redo(memberId(m))))
    if (!donor) {
      // Every ready member was asked and none completed: round again, after a pause.
      tried.clear()
      await o.pause(o.retryPauseMs)
      continue
    }
    tried.add(memberId(donor))
    status.attempts++
    const earlier = done.get(memberId(donor))?.donors
    const asked = scope && (earlier ? { ...scope, sent: earlier } : scope)
    const reason = await o.fetchFrom(donor, asked)
    if (reason === undefined) {
      status.reason = undefined
      if (!o.fromEveryDonor || !scope) break
      done.set(memberId(donor), { writer: writerOf(donor), donors: [...scope.donors] })
      continue
    }
    if (reason === NOT_YET_KNOWN && Date.now() - started < NOT_YET_KNOWN_WAIT_MS) {
      // The donor has not taken this member into its view yet (it pings back within a round
      // trip): ask it again shortly instead of waiting out a whole round.
      tried.delete(memberId(donor))
      await o.pause(NOT_YET_KNOWN_RETRY_MS)
      continue
    }
    status.state = 'waiting'
    status.reason = reason
    if (!overdue && Date.now() > deadline) {
      overdue = true
      logger.error(
        { code: sessionCodes.TRANSFER_INCOMPLETE, ...status, timeout: timeoutSeconds },
        'state transfer has not completed within stateTransferTimeout; staying not ready while a member that holds sessions is alive',
      )
    }
  }
  status.state = 'done'
}
