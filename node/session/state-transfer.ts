/**
 * State transfer of one context (Tomcat's GET_ALL_SESSIONS): a joining member asks one ready member
 * for the sessions it must hold and reports ready only once it received all of them.
 *
 * Joiner: asks the longest-running ready member; if that donor leaves, sends nothing for
 * pageTimeoutMs, says it failed, or ends with fewer sessions than it says it sent, it asks the next
 * one, and goes round the ready members again (after retryPauseMs) for as long as one is alive: it
 * **never starts with a partial copy while a member that holds sessions is alive**. After
 * timeoutSeconds it logs an error (and keeps trying); `status()` says what it waits for and why. Only
 * when no ready member is left (it is the first, members start together, or every donor is gone) does
 * it start with what it has. While a transfer runs, `transferring` is true, so that changes arriving
 * meanwhile for sessions not received yet are held (see replica-log.ts) and applied after the page
 * that brings their session; changes older than the snapshot are dropped there as duplicates.
 *
 * Donor (state-transfer-donor.ts): each session is encoded on its own; one that cannot be encoded
 * (msgpackr fails on it) is left out, logged with its id and counted (`transferSkipped`), and the
 * transfer goes on. Pages are cut by encoded bytes (transfer-pages.ts): at most pageSize sessions and
 * pageBudget(maxFrameBytes) bytes — half the largest frame the channel takes; a session over the
 * budget travels alone in chunks of the budget. Each page or chunk is acknowledged before the next
 * leaves (the donor encodes the next page meanwhile), so memory is bounded by two pages on the donor
 * and one page (or one reassembled session, at most maxSessionBytes) on the joiner;
 * `transfer-complete` carries the number of sessions sent and skipped, and the joiner checks it
 * received as many. A joiner takes pages, chunks and the end only from the donor it asked: one naming
 * the running transfer from another member is refused (`notAsked`: counted and logged by the manager).
 *
 * With fromEveryDonor (the BackupManager) the joiner needs a complete transfer from every ready
 * member, one after the other, each giving the part of the joiner's share it is the sender of
 * (joiner-share.ts: the request names the donors, so each session is sent once); it starts once each
 * ready member completed (or left). When a donor leaves or stops being ready before completing, the
 * donors that completed with it among their donors are asked again for its part.
 *
 * Re-sync: a member that comes back into the view after a gap (it was cut off and dropped), or whose
 * changes stay held past the hold timeout (replica-log.ts), may hold sessions this one missed. Then
 * this member fetches every session from it again, with the same transfer, installing only the
 * copies newer than its own (by version). One transfer runs at a time (a queue, at most one entry per
 * member); a re-sync triggered by held changes is not repeated for a member within resyncCooldownMs.
 *
 * Donor relay: from its snapshot until a grace period after the transfer, the donor relays the
 * changes it receives to the joiner (donor-relay.ts says why).
 */
import type { Logger } from 'pino'
import type { Channel } from '../tribes/channel-types.ts'
import { decode } from '../tribes/codec.ts'
import { ChannelSendError, codes } from '../tribes/errors.ts'
import { describeMember, type Member, memberId } from '../tribes/member.ts'
import { defaults } from '../tribes/options.ts'
import { SendOption } from '../tribes/send-options.ts'
import { DonorRelay } from './donor-relay.ts'
import { sessionCodes } from './errors.ts'
import { type MessageCounts, SESSION_MESSAGE, type SessionMessage } from './messages.ts'
import { isWriter, writerOf } from './rank.ts'
import { fromTuple, type SessionData } from './session.ts'
import { giveState } from './state-transfer-donor.ts'
import { pageBudget, Reassembly } from './transfer-pages.ts'

/** Where a donor's sessions come from and where a joiner's go. */
export interface TransferredSessions {
  /**
   * Donor: the ids of the sessions to send to joiner `to`, taken when the transfer starts; `scope`:
   * the donors it asks (fromEveryDonor).
   */
  ids(to: Member, scope?: TransferScope): string[]
  /** Donor: a copy of a session, or undefined when it is gone since. */
  data(id: string): SessionData | undefined
  /**
   * Joiner: a session received from the donor, `encodedBytes` long on the wire (may throw to refuse
   * it: counted, not fatal).
   */
  install(data: SessionData, encodedBytes: number): void
}

export interface StateTransferOptions {
  channel: Channel
  contextPath: string
  logger: Logger
  sessions: TransferredSessions
  /** The manager's counts of sent messages, by type. */
  sent: MessageCounts
  /** Seconds after which a joiner still waiting logs an error (it keeps trying while donors live). */
  timeoutSeconds: number
  /** Sessions per page, at most. */
  pageSize: number
  /** A donor that sends nothing for this long is given up for the next one. */
  pageTimeoutMs?: number
  /** Largest frame a receiver takes (default: the channel's receiver.maxFrameBytes). */
  maxFrameBytes?: number
  /** Largest session a joiner reassembles from chunks (64 MiB). */
  maxSessionBytes?: number
  /** Pause before going round the ready members again (1000 ms). */
  retryPauseMs?: number
  /** A re-sync for held changes is not repeated for the same member within this time (30 s). */
  resyncCooldownMs?: number
  /**
   * The joiner needs a complete transfer from every ready member, not one (the BackupManager: each
   * member gives the sessions it holds that the joiner owns).
   */
  fromEveryDonor?: boolean
  /**
   * Joiner: a page, chunk or end of the running transfer came from `from`, not from the donor asked;
   * it was refused (the manager counts and logs it).
   */
  notAsked(from: Member, type: string, why: string): void
}

/** With fromEveryDonor: the donors a joiner asks, and those of an earlier transfer (writer ids). */
export interface TransferScope {
  readonly donors: readonly string[]
  readonly sent?: readonly string[]
}

/** Donors a request may name, at most (more: the request is served without its scope, in full). */
const MAX_SCOPE = 1024

/** The scope a `get-all` request names, when it is well formed (else undefined: send everything). */
export function transferScope(request: { donors?: unknown; sent?: unknown }): TransferScope | undefined {
  const list = (x: unknown) =>
    Array.isArray(x) && x.length <= MAX_SCOPE && x.every(isWriter) ? (x as string[]) : undefined
  const donors = list(request.donors)
  if (!donors) return undefined
  if (request.sent === undefined) return { donors }
  const sent = list(request.sent)
  return sent ? { donors, sent } : undefined
}

/** A joiner's `get-all` request as the donor serves it. */
export interface TransferRequest {
  readonly transfer: number
  /** Which donors the joiner asks (joiner-share.ts), when its request says. */
  readonly scope?: TransferScope | undefined
  /** Sessions go as tuples (SessionTuple): the joiner said it reads them. */
  readonly packed?: boolean
}

/** The request a `get-all` message makes. */
export function transferRequest(m: {
  transfer: number
  donors?: unknown
  sent?: unknown
  packed?: unknown
}): TransferRequest {
  return { transfer: m.transfer, scope: transferScope(m), packed: m.packed === true }
}

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

/** Departed members remembered to recognise a rejoin (oldest forgotten first). */
const MAX_DEPARTED = 1024

type Page = SessionMessage & { type: 'all-data' }
type Chunk = SessionMessage & { type: 'all-data-chunk' }
type End = SessionMessage & { type: 'transfer-complete' | 'no-context-manager' }

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

/**
 * A donor that refused the request because this member is not in its view yet: on Kubernetes a new
 * pod's address reaches its peers a moment after it starts asking. Asked again every
 * NOT_YET_KNOWN_RETRY_MS for the first NOT_YET_KNOWN_WAIT_MS of the transfer, instead of after a
 * whole round's pause (retryPauseMs, 1 s).
 */
const NOT_YET_KNOWN = 'the donor does not know this member yet'
const NOT_YET_KNOWN_RETRY_MS = 50
const NOT_YET_KNOWN_WAIT_MS = 5_000
const notYetKnown = (err: unknown): boolean =>
  err instanceof ChannelSendError && err.failures.every((f) => f.error.code === codes.NOT_A_MEMBER)

export class StateTransfer {
  readonly #o: StateTransferOptions
  readonly #pageTimeoutMs: number
  readonly #budget: number
  readonly #retryPauseMs: number
  readonly #resyncCooldownMs: number
  readonly #reassembly: Reassembly
  #running: Running | undefined
  #ids = Math.floor(Math.random() * 1e9)
  /** One transfer at a time: the initial fetch and re-syncs wait their turn here. */
  #queue: Promise<void> = Promise.resolve()
  #fetching = false
  #stopped = false
  #wake: (() => void) | undefined
  #status: TransferStatus = { state: 'waiting', received: 0, skipped: 0, attempts: 0, since: Date.now() }
  /** Re-syncs queued or running, by member id; when each member's last one ended. */
  readonly #resyncing = new Set<string>()
  readonly #resynced = new Map<string, number>()
  readonly #departed = new Set<string>()
  readonly #onAdded = (m: Member) => this.#memberAdded(m)
  readonly #onGone = (m: Member) => this.#memberGone(m)
  readonly #relay: DonorRelay
  /**
   * The last transfer's time and sessions; sessions this donor left out (cannot be encoded) and this
   * joiner refused; re-syncs done; changes relayed to joiners.
   */
  readonly counters = {
    transferMs: 0,
    transferredSessions: 0,
    transferSkipped: 0,
    transferRefused: 0,
    resyncs: 0,
    relayed: 0,
    relayFailures: 0,
  }

  constructor(options: StateTransferOptions) {
    this.#o = options
    this.#pageTimeoutMs = options.pageTimeoutMs ?? 10_000
    this.#budget = pageBudget(
      options.maxFrameBytes ?? options.channel.maxFrameBytes ?? defaults.receiver.maxFrameBytes,
    )
    this.#retryPauseMs = options.retryPauseMs ?? 1000
    this.#resyncCooldownMs = options.resyncCooldownMs ?? 30_000
    this.#reassembly = new Reassembly(options.maxSessionBytes ?? 64 * 1024 * 1024)
    this.#relay = new DonorRelay(options.channel, this.counters)
  }

  /** A transfer is running or pending: a session not held yet may still come. */
  get transferring(): boolean {
    return this.#fetching || this.#resyncing.size > 0
  }

  /** The joiner's transfer: what it is doing and why (for /status). */
  status(): TransferStatus {
    return { ...this.#status }
  }

  /**
   * Joiner: gets every session from a ready member. Resolves once one transfer completed, or no
   * ready member is left, or stop() was called; never on a timeout while a ready member lives.
   */
  fetch(): Promise<void> {
    this.#fetching = true
    return this.#exclusive(() => this.#fetch()).finally(() => {
      this.#fetching = false
    })
  }

  /** Watches the view for members that come back after a gap (see re-sync above). */
  watchRejoins(): void {
    this.#o.channel.on('memberAdded', this.#onAdded)
    this.#o.channel.on('memberDisappeared', this.#onGone)
  }

  /** Ends a waiting fetch (it resolves) and the rejoin watch; nothing new is started. */
  stop(): void {
    this.#stopped = true
    this.#o.channel.off('memberAdded', this.#onAdded)
    this.#o.channel.off('memberDisappeared', this.#onGone)
    this.#running?.finish('stopping')
    this.#wake?.()
  }

  get stopped(): boolean {
    return this.#stopped
  }

  /**
   * Fetches every session again from `member` (when it is in the view and ready), installing the
   * copies newer than those held. True when a re-sync from it is queued or running now; false when
   * none can be (gone, not ready, stopped, or — with `cooldown` — one ended less than
   * resyncCooldownMs ago).
   */
  resync(member: Member, why: string, cooldown = true): boolean {
    const id = memberId(member)
    if (this.#resyncing.has(id)) return true
    const current = this.#o.channel.members().find((m) => memberId(m) === id)
    if (this.#stopped || !current?.ready) return false
    if (cooldown && Date.now() - (this.#resynced.get(id) ?? 0) < this.#resyncCooldownMs) return false
    this.#resyncing.add(id)
    this.#o.logger.info({ member: describeMember(current), why }, 're-syncing sessions from a member')
    void this.#exclusive(async () => {
      try {
        const now = this.#o.channel.members().find((m) => memberId(m) === id)
        if (!now || this.#stopped) return
        const reason = await this.#fetchFrom(now)
        this.counters.resyncs++
        if (reason)
          this.#o.logger.warn({ member: describeMember(now), reason }, 're-sync from a member failed')
      } finally {
        this.#resyncing.delete(id)
        const now = Date.now()
        for (const [m, at] of this.#resynced) if (now - at > this.#resyncCooldownMs) this.#resynced.delete(m)
        this.#resynced.set(id, now)
      }
    })
    return true
  }

  /**
   * Joiner: a page of the running transfer from its donor (pages of an abandoned one are ignored;
   * one from another member is refused: #current).
   */
  receivePage(m: Page, from: Member): void {
    const r = this.#current(m, from)
    if (!r || !Array.isArray(m.sessions)) return
    for (const bytes of m.sessions) this.#install(r, bytes)
  }

  /** Joiner: a chunk of a session larger than a page. */
  receiveChunk(m: Chunk, from: Member): void {
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

  /** Joiner: the donor sent everything, could not, or has no such context. */
  receiveEnd(m: End, from: Member): void {
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

  /** Donor: every session that can be encoded, in pages cut by bytes, each acknowledged before the next. */
  give(to: Member, request: TransferRequest): Promise<void> {
    return giveState(
      { ...this.#o, budget: this.#budget, relay: this.#relay, counters: this.counters },
      to,
      request,
    )
  }

  /** Donor: relays a change received from `from` to the joiners being served (donor-relay.ts). */
  relay(message: SessionMessage, from: Member, sendOptions: number): Promise<void> | undefined {
    return this.#relay.relay(message, from, sendOptions)
  }

  async #fetch(): Promise<void> {
    const { logger, channel, timeoutSeconds } = this.#o
    const started = Date.now()
    const deadline = started + timeoutSeconds * 1000
    let overdue = false
    const tried = new Set<string>()
    /** Donors whose transfer completed (fromEveryDonor), by member id: its writer id and the donors it was asked with. */
    const done = new Map<string, { writer: string; donors: string[] }>()
    this.#status = { state: 'waiting', received: 0, skipped: 0, attempts: 0, since: started }
    while (!this.#stopped) {
      const ready = channel
        .members()
        .filter((m) => m.ready)
        .sort((a, b) => a.startTime - b.startTime)
      if (ready.length === 0) {
        // Nobody holds sessions: this member is the first, starts together with the others, or
        // every member that held them is gone.
        if (this.#status.attempts === 0) {
          this.#status.reason = 'no ready member to ask'
          logger.info(
            { members: channel.members().map(describeMember) },
            'no ready member to ask for sessions: starting with none',
          )
        } else {
          this.#status.reason = 'no ready member is left to ask'
          logger.warn(
            { received: this.counters.transferredSessions },
            'no ready member is left to ask for sessions; starting with the sessions received so far',
          )
        }
        break
      }
      let scope: TransferScope | undefined
      let redo = (_id: string) => false
      if (this.#o.fromEveryDonor) {
        const readyW = new Set(ready.map(writerOf))
        const doneW = new Set([...done.values()].map((d) => d.writer))
        scope = { donors: [...new Set([...readyW, ...doneW])] }
        // A completed donor left the part of another donor to it, and that one left (or stopped
        // being ready) without completing: asked again for that part.
        redo = (id) => done.get(id)?.donors.some((w) => !readyW.has(w) && !doneW.has(w)) ?? false
        if (ready.every((m) => done.has(memberId(m)) && !redo(memberId(m)))) {
          this.#status.reason = undefined
          break
        }
      }
      const donor = ready.find(
        (m) => !tried.has(memberId(m)) && (!done.has(memberId(m)) || redo(memberId(m))),
      )
      if (!donor) {
        // Every ready member was asked and none completed: round again, after a pause.
        tried.clear()
        await this.#pause(this.#retryPauseMs)
        continue
      }
      tried.add(memberId(donor))
      this.#status.attempts++
      const earlier = done.get(memberId(donor))?.donors
      const asked = scope && (earlier ? { ...scope, sent: earlier } : scope)
      const reason = await this.#fetchFrom(donor, asked)
      if (reason === undefined) {
        this.#status.reason = undefined
        if (!this.#o.fromEveryDonor || !scope) break
        done.set(memberId(donor), { writer: writerOf(donor), donors: [...scope.donors] })
        continue
      }
      if (reason === NOT_YET_KNOWN && Date.now() - started < NOT_YET_KNOWN_WAIT_MS) {
        // The donor has not taken this member into its view yet (it pings back within a round
        // trip): ask it again shortly instead of waiting out a whole round.
        tried.delete(memberId(donor))
        await this.#pause(NOT_YET_KNOWN_RETRY_MS)
        continue
      }
      this.#status.state = 'waiting'
      this.#status.reason = reason
      if (!overdue && Date.now() > deadline) {
        overdue = true
        logger.error(
          { code: sessionCodes.TRANSFER_INCOMPLETE, ...this.#status, timeout: timeoutSeconds },
          'state transfer has not completed within stateTransferTimeout; staying not ready while a member that holds sessions is alive',
        )
      }
    }
    this.#status.state = 'done'
    this.counters.transferMs = Date.now() - started
  }

  /** One attempt from one donor: resolves with undefined when complete, otherwise with why not. */
  #fetchFrom(donor: Member, scope?: TransferScope): Promise<string | undefined> {
    const id = ++this.#ids
    const { channel, logger } = this.#o
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
        if (t && Date.now() - t.lastProgress > this.#pageTimeoutMs)
          finish(`the donor sent nothing for ${this.#pageTimeoutMs} ms`)
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
        .send(
          donor,
          {
            k: SESSION_MESSAGE,
            type: 'get-all',
            ctx: this.#o.contextPath,
            transfer: id,
            packed: true,
            ...(scope ? { donors: [...scope.donors], ...(scope.sent ? { sent: [...scope.sent] } : {}) } : {}),
          },
          SendOption.USE_ACK,
        )
        .catch((err) =>
          finish(notYetKnown(err) ? NOT_YET_KNOWN : `cannot ask the donor: ${(err as Error).message}`),
        )
    })
  }

  /**
   * The running transfer, when `m` belongs to it: it names its id and comes from its donor. One that
   * names it from another member is refused (never installed, nor taken as the transfer's end).
   */
  #current(m: Page | Chunk | End, from: Member): Running | undefined {
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
    this.counters.transferredSessions++
  }

  /** A received session this member does not take: counted and logged, the transfer goes on. */
  #refuse(reason: string): void {
    this.counters.transferRefused++
    this.#o.logger.warn({ reason }, 'a transferred session was refused')
  }

  #exclusive(task: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(task)
    this.#queue = run.catch(() => undefined)
    return run
  }

  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms)
      function done() {
        clearTimeout(t)
        resolve()
      }
      this.#wake = done
    })
  }

  #memberGone(m: Member): void {
    this.#departed.add(memberId(m))
    if (this.#departed.size > MAX_DEPARTED)
      this.#departed.delete(this.#departed.values().next().value as string)
  }

  /**
   * A member that left the view came back: both sides may have missed changes (a member cut off or
   * paused does not notice that it was dropped). Fetch what it holds, and ask it to fetch what this
   * member holds.
   */
  #memberAdded(m: Member): void {
    if (!this.#departed.delete(memberId(m))) return
    this.resync(m, 'the member rejoined after a gap', false)
    this.#o.sent['resync-request']++
    this.#o.channel
      .send(m, { k: SESSION_MESSAGE, type: 'resync-request', ctx: this.#o.contextPath }, SendOption.USE_ACK)
      .catch((err) =>
        this.#o.logger.warn(
          { member: describeMember(m), err: (err as Error).message },
          'cannot ask a returning member to re-sync',
        ),
      )
  }
}
