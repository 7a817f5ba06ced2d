/**
 * State transfer of one context (Tomcat's GET_ALL_SESSIONS): a joining member asks one ready member
 * for the sessions it must hold and reports ready only once it has them.
 *
 * Joiner: asks the longest-running ready member; if that donor leaves or sends nothing for
 * pageTimeoutMs, asks the next one; after timeoutSeconds over all donors it starts with what it has.
 * Nobody ready (the first member, or members starting together): it does not wait. While a transfer
 * runs, `transferring` is true, so that changes arriving meanwhile for sessions not received yet are
 * held (see replica-log.ts) and applied after the page that brings their session; changes older than
 * the snapshot are dropped there as duplicates.
 *
 * Donor: the sessions in pages of pageSize, each acknowledged before the next, so memory is bounded by
 * one page on both sides; the ids are taken once, each page's sessions are copied when it leaves.
 *
 * Donor relay: members learn of a joiner at different moments (a pod's address reaches each peer
 * through the API and a ping), so a peer that does not know the joiner yet sends a change to the
 * others only — after the donor took its snapshot, the joiner would never get it, serve that session
 * stale and write versions the others drop as duplicates. So from its snapshot until RELAY_GRACE_MS
 * after the transfer ends, the donor relays every change it receives to the joiner, with the sender's
 * send options (a synchronous sender waits for the joiner too); the joiner drops what it already has
 * by version. Bound: one relay entry per joiner being served, each dropped after the grace period.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import type { Channel } from '../tribes/channel-types.ts'
import { describeMember, type Member, memberId } from '../tribes/member.ts'
import { SendOption } from '../tribes/send-options.ts'
import { type MessageCounts, SESSION_MESSAGE, type SessionMessage } from './messages.ts'
import type { SessionData } from './session.ts'

/** Where a donor's sessions come from and where a joiner's go. */
export interface TransferredSessions {
  /** Donor: the ids of the sessions to send, taken when the transfer starts. */
  ids(): string[]
  /** Donor: a copy of a session, or undefined when it is gone since. */
  data(id: string): SessionData | undefined
  /** Joiner: a session received from the donor. */
  install(data: SessionData): void
}

export interface StateTransferOptions {
  channel: Channel
  contextPath: string
  logger: Logger
  sessions: TransferredSessions
  /** The manager's counts of sent messages, by type. */
  sent: MessageCounts
  /** Seconds a joiner spends on state transfer, over all donors, before it starts anyway. */
  timeoutSeconds: number
  /** Sessions per page. */
  pageSize: number
  /** A donor that sends nothing for this long is given up for the next one. */
  pageTimeoutMs?: number
}

/** How long after its transfer a joiner still gets the changes the donor receives (see above). */
export const RELAY_GRACE_MS = 10_000

type Page = SessionMessage & { type: 'all-data' }
type End = SessionMessage & { type: 'transfer-complete' | 'no-context-manager' }

interface Running {
  id: number
  lastProgress: number
  done(ok: boolean): void
}

export class StateTransfer {
  readonly #o: StateTransferOptions
  readonly #pageTimeoutMs: number
  #running: Running | undefined
  #ids = Math.floor(Math.random() * 1e9)
  /** Donor: joiners that get a copy of every change received, until when (Infinity while giving). */
  readonly #relayTo = new Map<string, { member: Member; until: number }>()
  /** Time the last transfer took, and the sessions it brought; changes relayed to joiners. */
  readonly counters = { transferMs: 0, transferredSessions: 0, relayed: 0, relayFailures: 0 }

  constructor(options: StateTransferOptions) {
    this.#o = options
    this.#pageTimeoutMs = options.pageTimeoutMs ?? 10_000
  }

  /** A transfer is running: a session not held yet may still come. */
  get transferring(): boolean {
    return this.#running !== undefined
  }

  /** Joiner: gets the sessions from the first ready member that gives them all in time. */
  async fetch(): Promise<void> {
    const started = Date.now()
    const deadline = started + this.#o.timeoutSeconds * 1000
    const tried = new Set<string>()
    for (;;) {
      const donors = this.#o.channel
        .members()
        .filter((m) => m.ready)
        .sort((a, b) => a.startTime - b.startTime)
      const donor = donors.find((m) => !tried.has(memberId(m)))
      if (!donor) {
        // Nobody ready: this member is the first, or starts together with the others.
        if (tried.size === 0) {
          this.#o.logger.info(
            { members: this.#o.channel.members().map(describeMember) },
            'no ready member to ask for sessions: starting with none',
          )
          break
        }
        if (Date.now() > deadline) break
        tried.clear()
        await sleep(250)
        continue
      }
      tried.add(memberId(donor))
      if (await this.#fetchFrom(donor, deadline)) break
      if (Date.now() > deadline) {
        this.#o.logger.warn(
          { received: this.counters.transferredSessions, timeout: this.#o.timeoutSeconds },
          'state transfer did not complete in time; starting with the sessions received so far',
        )
        break
      }
    }
    this.#running = undefined
    this.counters.transferMs = Date.now() - started
  }

  /** Joiner: a page of the running transfer (pages of an abandoned one are ignored). */
  receivePage(m: Page): void {
    if (this.#running?.id !== m.transfer) return
    this.#running.lastProgress = Date.now()
    for (const d of m.sessions) this.#o.sessions.install(d)
    this.counters.transferredSessions += m.sessions.length
  }

  /** Joiner: the donor sent everything (or has no such context). */
  receiveEnd(m: End): void {
    if (this.#running?.id === m.transfer) this.#running.done(true)
  }

  /** Donor: every session, in pages, each acknowledged before the next. */
  async give(to: Member, transfer: number): Promise<void> {
    const { channel, contextPath: ctx, sent } = this.#o
    // Changes made after the snapshot reach the joiner only once it is in our view: wait for that
    // (it pinged us before asking, so it is a matter of milliseconds), then take the snapshot.
    const id = memberId(to)
    for (let waited = 0; waited < 2000 && !channel.members().some((m) => memberId(m) === id); waited += 10) {
      await sleep(10)
    }
    this.#relayTo.set(id, { member: to, until: Number.POSITIVE_INFINITY })
    const ids = this.#o.sessions.ids()
    const size = this.#o.pageSize
    let pages = 0
    try {
      for (let i = 0; i < ids.length; i += size) {
        const sessions: SessionData[] = []
        for (const id of ids.slice(i, i + size)) {
          const d = this.#o.sessions.data(id)
          if (d) sessions.push(d)
        }
        sent['all-data']++
        await channel.send(
          to,
          { k: SESSION_MESSAGE, type: 'all-data', ctx, transfer, page: pages++, sessions },
          SendOption.USE_ACK,
        )
      }
      sent['transfer-complete']++
      await channel.send(
        to,
        { k: SESSION_MESSAGE, type: 'transfer-complete', ctx, transfer, pages, sessions: ids.length },
        SendOption.USE_ACK,
      )
      this.#o.logger.info({ to: describeMember(to), sessions: ids.length, pages }, 'sent all sessions')
    } catch (err) {
      this.#o.logger.warn(
        { to: describeMember(to), err: (err as Error).message },
        'state transfer to a joining member failed',
      )
    } finally {
      const r = this.#relayTo.get(id)
      if (r) r.until = Date.now() + RELAY_GRACE_MS
    }
  }

  /**
   * Donor: relays a change received from `from` to the joiners being served (not back to its
   * sender). Undefined when there are none, the common case; otherwise settles once every relay was
   * acknowledged as `sendOptions` asks or failed (a failure is counted, never the sender's problem).
   */
  relay(message: SessionMessage, from: Member, sendOptions: number): Promise<void> | undefined {
    if (this.#relayTo.size === 0) return undefined
    const now = Date.now()
    const sender = memberId(from)
    const sends: Promise<void>[] = []
    for (const [id, r] of this.#relayTo) {
      if (r.until < now) {
        this.#relayTo.delete(id)
        continue
      }
      if (id === sender) continue
      this.counters.relayed++
      sends.push(
        this.#o.channel.send(r.member, message, sendOptions).catch(() => {
          this.counters.relayFailures++
        }),
      )
    }
    return sends.length ? Promise.all(sends).then(() => undefined) : undefined
  }

  #fetchFrom(donor: Member, deadline: number): Promise<boolean> {
    const id = ++this.#ids
    const { channel, logger } = this.#o
    return new Promise<boolean>((resolve) => {
      let settled = false
      const finish = (ok: boolean) => {
        if (settled) return
        settled = true
        clearInterval(watch)
        channel.off('memberDisappeared', onGone)
        if (this.#running?.id === id) this.#running = undefined
        if (!ok)
          logger.warn(
            { donor: describeMember(donor) },
            'state transfer from this member failed; trying another',
          )
        resolve(ok)
      }
      const onGone = (m: Member) => {
        if (memberId(m) === memberId(donor)) finish(false)
      }
      const watch = setInterval(() => {
        const t = this.#running
        if (Date.now() > deadline || (t && Date.now() - t.lastProgress > this.#pageTimeoutMs)) finish(false)
      }, 200)
      this.#running = { id, lastProgress: Date.now(), done: finish }
      channel.on('memberDisappeared', onGone)
      this.#o.sent['get-all']++
      logger.info({ donor: describeMember(donor) }, 'asking for all sessions')
      channel
        .send(
          donor,
          { k: SESSION_MESSAGE, type: 'get-all', ctx: this.#o.contextPath, transfer: id },
          SendOption.USE_ACK,
        )
        .catch(() => finish(false))
    })
  }
}
