/**
 * State transfer of one context (Tomcat's GET_ALL_SESSIONS): a joining member asks one ready member
 * for the sessions it must hold and reports ready only once it received all of them. This class puts
 * the parts together, one transfer at a time (the initial fetch and re-syncs queue here):
 *
 * - joiner-fetch.ts: which ready member the joiner asks next; it **never starts with a partial copy
 *   while a member that holds sessions is alive**, logs an error after timeoutSeconds (and keeps
 *   trying), and starts with what it has only when no ready member is left. `status()` says what it
 *   waits for and why. While a transfer runs, `transferring` is true, so that changes arriving
 *   meanwhile for sessions not received yet are held (see replica-log.ts) and applied after the page
 *   that brings their session; changes older than the snapshot are dropped there as duplicates.
 * - transfer-receiver.ts: one attempt from one donor — asks it (transfer-request.ts: the `get-all`
 *   request), takes pages, chunks and the end only from it (one naming the running transfer from
 *   another member is refused: `notAsked`, counted and logged by the manager), installs each session,
 *   and gives the donor up when it leaves, sends nothing for pageTimeoutMs, says it failed, or ends
 *   with fewer sessions than it says it sent.
 * - state-transfer-donor.ts: the donor's side. Each session is encoded on its own; one that cannot be
 *   encoded is left out, logged and counted (`transferSkipped`). Pages are cut by encoded bytes
 *   (transfer-pages.ts): at most pageSize sessions and pageBudget(maxFrameBytes) bytes — half the
 *   largest frame the channel takes; a session over the budget travels alone in chunks. Each page or
 *   chunk is acknowledged before the next leaves, so memory is bounded by two pages on the donor and
 *   one page (or one reassembled session, at most maxSessionBytes) on the joiner;
 *   `transfer-complete` carries the number of sessions sent and skipped.
 * - member-resync.ts: a member that comes back into the view after a gap, or whose changes stay held
 *   past the hold timeout, may hold sessions this one missed: every session is fetched from it again
 *   with the same transfer, installing only the copies newer than those held.
 * - donor-relay.ts: from its snapshot until a grace period after the transfer, the donor relays the
 *   changes it receives to the joiner.
 *
 * With fromEveryDonor (the BackupManager) the joiner needs a complete transfer from every ready
 * member, one after the other, each giving the part of the joiner's share it is the sender of
 * (joiner-share.ts: the request names the donors, so each session is sent once).
 */
import type { Logger } from 'pino'
import type { Channel } from '../tribes/channel-types.ts'
import type { Member } from '../tribes/member.ts'
import { defaults } from '../tribes/options.ts'
import { DonorRelay } from './donor-relay.ts'
import { fetchFromDonors } from './joiner-fetch.ts'
import { MemberResync } from './member-resync.ts'
import type { MessageCounts, SessionMessage } from './messages.ts'
import type { SessionData } from './session.ts'
import { giveState } from './state-transfer-donor.ts'
import { pageBudget } from './transfer-pages.ts'
import {
  type TransferChunk,
  type TransferEnd,
  type TransferPage,
  TransferReceiver,
  type TransferStatus,
} from './transfer-receiver.ts'
import type { TransferRequest, TransferScope } from './transfer-request.ts'

export type { TransferStatus } from './transfer-receiver.ts'
export {
  type TransferRequest,
  type TransferScope,
  transferRequest,
  transferScope,
} from './transfer-request.ts'

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

export class StateTransfer {
  readonly #o: StateTransferOptions
  readonly #budget: number
  readonly #retryPauseMs: number
  readonly #receiver: TransferReceiver
  readonly #resync: MemberResync
  readonly #relay: DonorRelay
  /** One transfer at a time: the initial fetch and re-syncs wait their turn here. */
  #queue: Promise<void> = Promise.resolve()
  #fetching = false
  #stopped = false
  #wake: (() => void) | undefined
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
    this.#budget = pageBudget(
      options.maxFrameBytes ?? options.channel.maxFrameBytes ?? defaults.receiver.maxFrameBytes,
    )
    this.#retryPauseMs = options.retryPauseMs ?? 1000
    this.#receiver = new TransferReceiver({
      ...options,
      pageTimeoutMs: options.pageTimeoutMs ?? 10_000,
      maxSessionBytes: options.maxSessionBytes ?? 64 * 1024 * 1024,
      counters: this.counters,
    })
    this.#resync = new MemberResync({
      ...options,
      cooldownMs: options.resyncCooldownMs ?? 30_000,
      counters: this.counters,
      fetchFrom: async (member) => {
        const reason = await this.#receiver.fetchFrom(member)
        this.#receiver.resyncEnded(reason)
        return reason
      },
      exclusive: (task) => this.#exclusive(task),
      stopped: () => this.#stopped,
    })
    this.#relay = new DonorRelay(options.channel, this.counters)
  }

  /** A transfer is running or pending: a session not held yet may still come. */
  get transferring(): boolean {
    return this.#fetching || this.#resync.pending
  }

  /** The joiner's transfer: what it is doing and why (for /status). */
  status(): TransferStatus {
    return this.#receiver.status()
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

  /** Watches the view for members that come back after a gap (member-resync.ts). */
  watchRejoins(): void {
    this.#resync.watchRejoins()
  }

  /** Ends a waiting fetch (it resolves) and the rejoin watch; nothing new is started. */
  stop(): void {
    this.#stopped = true
    this.#resync.stop()
    this.#receiver.stop()
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
    return this.#resync.resync(member, why, cooldown)
  }

  /**
   * Joiner: a page of the running transfer from its donor (pages of an abandoned one are ignored;
   * one from another member is refused: transfer-receiver.ts).
   */
  receivePage(m: TransferPage, from: Member): void {
    this.#receiver.receivePage(m, from)
  }

  /** Joiner: a chunk of a session larger than a page. */
  receiveChunk(m: TransferChunk, from: Member): void {
    this.#receiver.receiveChunk(m, from)
  }

  /** Joiner: the donor sent everything, could not, or has no such context. */
  receiveEnd(m: TransferEnd, from: Member): void {
    this.#receiver.receiveEnd(m, from)
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
    const started = Date.now()
    await fetchFromDonors({
      ...this.#o,
      retryPauseMs: this.#retryPauseMs,
      fromEveryDonor: this.#o.fromEveryDonor ?? false,
      status: this.#receiver.begin(started),
      fetchFrom: (donor, scope) => this.#receiver.fetchFrom(donor, scope),
      pause: (ms) => this.#pause(ms),
      stopped: () => this.#stopped,
      received: () => this.counters.transferredSessions,
    })
    this.counters.transferMs = Date.now() - started
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
}
