/**
 * The joiner's receiving end of state transfer (state-transfer.ts): one attempt at a time from one
 * donor. `fetchFrom` asks the donor (`get-all`, transfer-request.ts) and settles when the attempt
 * ends: complete, or why not — the donor left, sent nothing for pageTimeoutMs, said it failed, ended
 * with fewer sessions than it says it sent, or does not know this member yet. Pages, chunks (of a
 * session larger than a page, reassembled by transfer-pages.ts, at most maxSessionBytes) and the end
 * are taken only when they name the running attempt and come from the donor asked; one naming it from
 * another member is refused (`notAsked`: counted and logged by the manager). Each session is decoded
 * and installed on its own; one that cannot be is refused, counted (`transferRefused`) and logged, and
 * the transfer goes on. Keeps the joiner's TransferStatus (for /status): the fetch loop
 * (joiner-fetch.ts) records its attempts and reasons on the same status.
 */
import type { Logger } from 'pino'
import type { Channel } from '../tribes/channel-types.ts'
import { decode } from '../tribes/codec.ts'
import { ChannelSendError, codes } from '../tribes/errors.ts'
import { describeMember, type Member, memberId } from '../tribes/member.ts'
import { SendOption } from '../tribes/send-options.ts'
import { sessionCodes } from './errors.ts'
import type { MessageCounts, SessionMessage } from './messages.ts'
import { fromTuple, type SessionData } from './session.ts'
import type { TransferredSessions } from './state-transfer.ts'
import { Reassembly } from './transfer-pages.ts'
import { getAllMessage, type TransferScope } from './transfer-request.ts'

/** What a joiner's state transfer is doing, for /status. */
export interface TransferStatus {
  /** waiting: no transfer under way (between donors, or not started); done: finished or not needed. */
  state: 'waiting' | 'receiving' | 'done'
  /** The donor asked last. */
  donor?: string
  /** Sessions received (and refused) from that donor in this attempt, and how many it said it sent. */
  received: number
  expected?: number
  /** Sessions the donor left out because it could not encode them. */
  skipped: number
  /** Donors asked so far. */
  attempts: number
  /** Why the last attempt did not complete, or why the member started without a transfer. */
  reason?: string
  /** Since when (ms since the epoch) the transfer has been under way. */
  since: number
}

export type TransferPage = SessionMessage & { type: 'all-data' }
export type TransferChunk = SessionMessage & { type: 'all-data-chunk' }
export type TransferEnd = SessionMessage & { type: 'transfer-complete' | 'no-context-manager' }

/**
 * Why an attempt ended when the donor refused the request because this member is not in its view
 * yet: on Kubernetes a new pod's address reaches its peers a moment after it starts asking (the fetch
 * loop asks it again shortly, joiner-fetch.ts; not logged as a failure).
 */
export const NOT_YET_KNOWN = 'the donor does not know this member yet'
const notYetKnown = (err: unknown): boolean =>
  err instanceof ChannelSendError && err.failures.every((f) => f.error.code === codes.NOT_A_MEMBER)

export interface TransferReceiverOptions {
  channel: Channel
  contextPath: string
  logger: Logger
  /** Where received sessions go (install may throw to refuse one). */
  sessions: Pick<TransferredSessions, 'install'>
  /** The manager's counts of sent messages, by type. */
  sent: MessageCounts
  /** A donor that sends nothing for this long is given up. */
  pageTimeoutMs: number
  /** Largest session reassembled from chunks. */
  maxSessionBytes: number
  /** A page, chunk or end of the running attempt came from `from`, not from the donor asked. */
  notAsked(from: Member, type: string, why: string): void
  /** Where sessions installed and refused are counted (the transfer's, for /status). */
  counters: { transferredSessions: number; transferRefused: number }
}

interface Running {
  id: number
  /** The donor asked: only its pages are taken. */
  donor: Member
  lastProgress: number
  /** Sessions received in this attempt, installed or refused. */
  received: number
  /** Ends the attempt: complete (no reason) or not (why). */
  finish(reason?: string): void
}

export class TransferReceiver {
  readonly #o: TransferReceiverOptions
  readonly #reassembly: Reassembly
  #running: Running | undefined
  #ids = Math.floor(Math.random() * 1e9)
  #status: TransferStatus = { state: 'waiting', received: 0, skipped: 0, attempts: 0, since: Date.now() }

  constructor(options: TransferReceiverOptions) {
    this.#o = options
    this.#reassembly = new Reassembly(options.maxSessionBytes)
  }

  /** A copy of the status (for /status). */
  status(): TransferStatus {
    return { ...this.#status }
  }

  /**
   * A fetch starts at `since`: a fresh status, returned for the fetch loop to record its attempts,
   * reasons and end on (the attempts update it too).
   */
  begin(since: number): TransferStatus {
    this.#status = { state: 'waiting', received: 0, skipped: 0, attempts: 0, since }
    return this.#status
  }

  /**
   * A re-sync's attempt ended (it runs after the fetch, whose status it took over): no transfer is
   * under way any more, and `reason` says why it did not complete, if it did not.
   */
  resyncEnded(reason: string | undefined): void {
    this.#status.state = 'done'
    this.#status.reason = reason
  }

  /** Ends the running attempt, if any ('stopping'). */
  stop(): void {
    this.#running?.finish('stopping')
  }

  /** One attempt from one donor: resolves with undefined when complete, otherwise with why not. */
  fetchFrom(donor: Member, scope?: TransferScope): Promise<string | undefined> {
    const id = ++this.#ids
    const { channel, logger, pageTimeoutMs } = this.#o
    return new Promise<string | undefined>((resolve) => {
      let settled = false
      const finish = (reason?: string) => {
        if (settled) return
        settled = true
        clearInterval(watch)
        channel.off('memberDisappeared', onGone)
        if (this.#running?.id === id) this.#running = undefined
        this.#reassembly.reset()
        if (reason && reason !== NOT_YET_KNOWN)
          logger.warn(
            { donor: describeMember(donor), reason },
            'state transfer from this member failed; trying another',
          )
        resolve(reason)
      }
      const onGone = (m: Member) => {
        if (memberId(m) === memberId(donor)) finish('the donor left')
      }
      const watch = setInterval(() => {
        const t = this.#running
        if (t && Date.now() - t.lastProgress > pageTimeoutMs)
          finish(`the donor sent nothing for ${pageTimeoutMs} ms`)
      }, 200)
      this.#running = { id, donor, lastProgress: Date.now(), received: 0, finish }
      this.#reassembly.reset()
      Object.assign(this.#status, {
        state: 'receiving',
        donor: describeMember(donor),
        received: 0,
        expected: undefined,
        skipped: 0,
      })
      channel.on('memberDisappeared', onGone)
      this.#o.sent['get-all']++
      logger.info({ donor: describeMember(donor) }, 'asking for all sessions')
      channel
        .send(donor, getAllMessage(this.#o.contextPath, id, scope), SendOption.USE_ACK)
        .catch((err) =>
          finish(notYetKnown(err) ? NOT_YET_KNOWN : `cannot ask the donor: ${(err as Error).message}`),
        )
    })
  }

  /**
   * A page of the running attempt from its donor (pages of an abandoned one are ignored; one from
   * another member is refused: #current).
   */
  receivePage(m: TransferPage, from: Member): void {
    const r = this.#current(m, from)
    if (!r || !Array.isArray(m.sessions)) return
    for (const bytes of m.sessions) this.#install(r, bytes)
  }

  /** A chunk of a session larger than a page. */
  receiveChunk(m: TransferChunk, from: Member): void {
    const r = this.#current(m, from)
    if (!r) return
    let outcome: ReturnType<Reassembly['add']>
    try {
      outcome = this.#reassembly.add(m.index, m.count, m.total, m.bytes)
    } catch (err) {
      r.finish((err as Error).message)
      return
    }
    if (outcome === undefined) return
    if ('bytes' in outcome) this.#install(r, outcome.bytes)
    else {
      r.received++
      this.#status.received = r.received
      this.#refuse(outcome.refused)
    }
  }

  /** The donor sent everything, could not, or has no such context. */
  receiveEnd(m: TransferEnd, from: Member): void {
    const r = this.#current(m, from)
    if (!r) return
    if (m.type === 'no-context-manager') {
      r.finish()
      return
    }
    if (typeof m.error === 'string') {
      r.finish(`the donor could not finish: ${m.error}`)
      return
    }
    const skipped = Number.isSafeInteger(m.skipped) ? (m.skipped as number) : 0
    this.#status.expected = m.sessions
    this.#status.skipped = skipped
    if (r.received !== m.sessions) {
      r.finish(`incomplete: received ${r.received} of the ${m.sessions} sessions the donor sent`)
      return
    }
    if (skipped > 0)
      this.#o.logger.warn(
        { code: sessionCodes.TRANSFER_SKIPPED, skipped },
        'the donor left out sessions it could not encode (see its log)',
      )
    r.finish()
  }

  /**
   * The running attempt, when `m` belongs to it: it names its id and comes from its donor. One that
   * names it from another member is refused (never installed, nor taken as the attempt's end).
   */
  #current(m: TransferPage | TransferChunk | TransferEnd, from: Member): Running | undefined {
    const r = this.#running
    if (r?.id !== m.transfer) return undefined
    if (memberId(from) !== memberId(r.donor)) {
      this.#o.notAsked(
        from,
        m.type,
        `state transfer ${r.id} asked ${describeMember(r.donor)}, not this sender`,
      )
      return undefined
    }
    r.lastProgress = Date.now()
    return r
  }

  /** A received session: installed, or refused (it cannot be decoded or installed) and counted. */
  #install(r: Running, bytes: unknown): void {
    r.received++
    this.#status.received = r.received
    let data: SessionData
    try {
      if (!(bytes instanceof Uint8Array)) throw new Error('a transferred session is not bytes')
      const decoded = decode(bytes)
      data = Array.isArray(decoded) ? fromTuple(decoded) : (decoded as SessionData)
      this.#o.sessions.install(data, bytes.length)
    } catch (err) {
      this.#refuse((err as Error).message)
      return
    }
    this.#o.counters.transferredSessions++
  }

  /** A received session this member does not take: counted and logged, the transfer goes on. */
  #refuse(reason: string): void {
    this.#o.counters.transferRefused++
    this.#o.logger.warn({ reason }, 'a transferred session was refused')
  }
}
