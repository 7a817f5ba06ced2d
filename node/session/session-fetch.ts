/**
 * Fetching one session's copy from another member (`session-request` → `session-copy`), for two
 * callers: read-your-writes (a request's version cookie names a newer state than the copy held, and
 * the change has not arrived after a short wait) and the replica log (a change from another branch
 * ranks higher than the copy held, or a gap will not fill).
 *
 * Asker: one request per session at a time (a later need for a higher rank widens it): to the
 * member that wrote the wanted state when it is in the view, else to every member. A copy is taken
 * only as the answer to a request this member has outstanding (an unasked copy is refused); it is
 * then installed by the manager through the same checks and replica log as any copy. When every
 * member asked said it holds nothing that new (or left, or could not be reached), the request gives
 * up at once (`gaveUp`); an unanswered one is forgotten after `timeoutMs`.
 *
 * Answerer: answers with the copy it holds when that ranks at least as asked, else with no session.
 *
 * Bounds: at most maxOutstanding requests per context (more are not sent, counted in
 * `requestsRefused`; the reader is then served what its node holds), and at most maxAnswering
 * answers being sent at once (more requests are not answered, counted in `answersDropped`; the
 * asker's wait ends at its bound).
 */
import type { Logger } from 'pino'
import type { Channel } from '../tribes/channel-types.ts'
import { type Member, memberId } from '../tribes/member.ts'
import { SendOption } from '../tribes/send-options.ts'
import { type MessageCounts, SESSION_MESSAGE, type SessionMessage } from './messages.ts'
import { compareRank, type Rank, writerOf } from './rank.ts'
import type { SessionData } from './session.ts'
import { keyOf } from './store.ts'

type Request = SessionMessage & { type: 'session-request' }
type Copy = SessionMessage & { type: 'session-copy' }

export interface SessionFetchOptions {
  channel: Channel
  contextPath: string
  logger: Logger
  /** The manager's counts of sent messages, by type. */
  sent: MessageCounts
  /** The copy held here of session `id` (for answers). */
  copyOf(id: string): (Rank & { toData(): SessionData }) | undefined
  /** Every member asked for `key` answered that it has nothing that new: stop waiting for it. */
  gaveUp(key: string): void
  maxOutstanding?: number
  maxAnswering?: number
  timeoutMs?: number
}

interface Outstanding {
  want: Rank
  /** Members asked that have not answered yet. */
  waiting: Set<string>
  at: number
}

export class SessionFetch {
  readonly #o: SessionFetchOptions
  readonly #maxOutstanding: number
  readonly #maxAnswering: number
  readonly #timeoutMs: number
  readonly #outstanding = new Map<string, Outstanding>()
  #answering = 0
  readonly #onGone = (m: Member) => this.#memberGone(m)
  readonly counters = { requestsSent: 0, requestsRefused: 0, answersDropped: 0, copiesUnasked: 0 }

  constructor(options: SessionFetchOptions) {
    this.#o = options
    this.#maxOutstanding = options.maxOutstanding ?? 10_000
    this.#maxAnswering = options.maxAnswering ?? 64
    this.#timeoutMs = options.timeoutMs ?? 3_000
    options.channel.on('memberDisappeared', this.#onGone)
  }

  stop(): void {
    this.#o.channel.off('memberDisappeared', this.#onGone)
    this.#outstanding.clear()
  }

  /**
   * Asks for a copy of session `id` ranking at least `want`, from its writer or (unknown) from every
   * member; `via` also holds it when the writer is not in the view (it sent the change); `only`:
   * these members and no others (the BackupManager asks a session's owners). False when
   * no request could be sent (no member to ask, or the bound), so nothing is coming.
   */
  request(id: string, want: Rank, via?: Member, only?: Member[]): boolean {
    const key = keyOf(id)
    const now = Date.now()
    const current = this.#outstanding.get(key)
    if (current && now - current.at < this.#timeoutMs && compareRank(current.want, want) >= 0) return true
    if (!current && this.#outstanding.size >= this.#maxOutstanding) {
      this.#forgetOld(now)
      if (this.#outstanding.size >= this.#maxOutstanding) {
        this.counters.requestsRefused++
        return false
      }
    }
    const members = this.#o.channel.members()
    const writer = members.find((m) => writerOf(m) === want.writer)
    const to = only ?? (writer ? [writer] : via && members.includes(via) ? [via] : members)
    if (to.length === 0) return false
    this.#outstanding.set(key, { want, waiting: new Set(to.map(memberId)), at: now })
    const { contextPath: ctx, channel, sent } = this.#o
    for (const m of to) {
      sent['session-request']++
      this.counters.requestsSent++
      channel
        .send(
          m,
          { k: SESSION_MESSAGE, type: 'session-request', ctx, id, v: want.version, w: want.writer },
          SendOption.USE_ACK,
        )
        .catch(() => this.#noAnswer(key, memberId(m)))
    }
    return true
  }

  /** Is a request for this session outstanding? */
  pending(id: string): boolean {
    return this.#outstanding.has(keyOf(id))
  }

  /**
   * An answer arrived: the copy to install when this member asked for it (undefined for a "none"
   * answer, which may end the request, and for a copy nobody asked for, which is counted).
   */
  answered(m: Copy, from: Member): SessionData | undefined {
    if (typeof m.id !== 'string') return undefined
    const key = keyOf(m.id)
    const o = this.#outstanding.get(key)
    if (!o?.waiting.has(memberId(from))) {
      if (m.session) this.counters.copiesUnasked++
      return undefined
    }
    if (!m.session) {
      this.#noAnswer(key, memberId(from))
      return undefined
    }
    this.#outstanding.delete(key)
    return m.session
  }

  /** Another member asks for a copy: sent when the one held here ranks at least as asked. */
  answer(m: Request, from: Member): void {
    if (typeof m.id !== 'string' || !Number.isSafeInteger(m.v) || typeof m.w !== 'string') return
    if (this.#answering >= this.#maxAnswering) {
      this.counters.answersDropped++
      return
    }
    const held = this.#o.copyOf(m.id)
    const session = held && compareRank(held, { version: m.v, writer: m.w }) >= 0 ? held.toData() : undefined
    this.#answering++
    this.#o.sent['session-copy']++
    this.#o.channel
      .send(
        from,
        {
          k: SESSION_MESSAGE,
          type: 'session-copy',
          ctx: this.#o.contextPath,
          id: m.id,
          ...(session ? { session } : {}),
        },
        SendOption.USE_ACK,
      )
      .catch((err) =>
        this.#o.logger.debug({ err: (err as Error).message }, 'cannot answer a session request'),
      )
      .finally(() => {
        this.#answering--
      })
  }

  #noAnswer(key: string, member: string): void {
    const o = this.#outstanding.get(key)
    if (!o?.waiting.delete(member) || o.waiting.size > 0) return
    this.#outstanding.delete(key)
    this.#o.gaveUp(key)
  }

  #memberGone(m: Member): void {
    const id = memberId(m)
    for (const [key, o] of this.#outstanding) if (o.waiting.has(id)) this.#noAnswer(key, id)
  }

  #forgetOld(now: number): void {
    for (const [key, o] of this.#outstanding) if (now - o.at >= this.#timeoutMs) this.#outstanding.delete(key)
  }
}
