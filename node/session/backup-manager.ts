/**
 * Tomcat's BackupManager: each session is held by 1 + k members (`backups: k`, default 1) — its
 * owners, placed by rendezvous hashing over the member view (placement.ts), the first being its
 * primary — instead of by every member, so memory and replication traffic per member stop growing
 * with the cluster. Replication, ranks, the replica log and read-your-writes are the DeltaManager's
 * (replicated-manager.ts); what differs:
 *
 * - **Placement**: any member computes a session's owners from its view; no proxy entries or
 *   messages (Tomcat's LazyReplicatedMap keeps a proxy entry per session on every member and sends
 *   proxy messages to keep them). A new session's id is chosen so that its creator is its primary.
 *   The view is the map members (map-members.ts): the channel members that have this context
 *   started, as Tomcat's map members — copies go only to members that have the application deployed.
 * - **Messages about a session** go to its other owners only, with `manager.mapSendOptions`
 *   (Tomcat's name; default 6, synchronous ACK).
 * - **A request on a member that holds no copy** fetches it from the owners (`session-request` /
 *   `session-copy`, session-fetch.ts), waiting at most `rpcTimeout`, and serves it; its writes go to
 *   the owners as any member's. The fetched copy stays as a proxy for PROXY_TTL_MS after its last use
 *   (at most MAX_PROXIES per context, the least recently used dropped first), so a client whose
 *   balancer keeps it on this member does not fetch on every request; the version cookie catches a
 *   proxy that is older than what its client saw (askAtOnce: the owners are asked at once).
 * - **Repair** (repair.ts): after a membership change, and for proxies past their lifetime, each
 *   member sends copies to owners that may lack them and drops copies it does not own once every
 *   owner confirmed them (ownership-transfer.ts), paced every REPAIR_DELAY_MS.
 * - **Join**: a joiner gets, from every ready member, the sessions it owns (state-transfer.ts with
 *   fromEveryDonor; stateIds filters by ownership, and by joiner-share.ts so that each session is
 *   sent by one of its holders), and is ready only then.
 * - **Change of id**: an old owner that does not own the new id hands its renamed copy to the new
 *   owners and drops it at once (#renamed), rather than at the next repair pass.
 * - **Stop** (departure.ts): a stopping member first announces its departure (`leaving`,
 *   synchronously acknowledged: each member takes it out of placement at once), then hands over the
 *   sessions it owns to the members that own them without it, then leaves the channel; what still
 *   reaches it meanwhile is passed on to the owners without it before it is acknowledged.
 * - **Anti-entropy** (anti-entropy.ts, run by ReplicatedManager): a session's owners compare
 *   digests of the sessions they own together, and only once the last repair pass was over the view.
 * - **Expiry**: every holder expires an idle copy; only the primary announces it.
 * - **terminateOnStartFailure** (Tomcat's; default false): a start whose state transfer does not
 *   complete (startFailure) rejects with CATTERY_ERR_CONTEXT_START_FAILED — a starting node exits
 *   (node/main.ts), a later deploy fails — instead of staying not ready while it keeps trying.
 * - **accessTimeout** (Tomcat's map ping timeout): accepted, without effect. Tomcat drops a map member
 *   that does not answer its map's ping within it; here a map member leaves the map when it leaves
 *   the channel's view, from which membership drops a member that stops answering
 *   (membership.expireTime, dropTime, TcpFailureDetector), and a member whose context stops
 *   announces it (`leaving`, then `map-member` with `present: false`).
 */

import { CatteryError, ChannelSendError } from '../tribes/errors.ts'
import { describeMember, type Member } from '../tribes/member.ts'
import { SendOption } from '../tribes/send-options.ts'
import type { ManagerMessage } from './cluster-manager.ts'
import { Departure } from './departure.ts'
import { sessionCodes } from './errors.ts'
import { sendsToJoiner } from './joiner-share.ts'
import type { ManagerStats } from './manager.ts'
import { MapMembers } from './map-members.ts'
import { isMapMember, type SessionMessage } from './messages.ts'
import { PlacementView } from './placement.ts'
import { writerOf } from './rank.ts'
import { type HeldCopy, planRepair, type RepairAction } from './repair.ts'
import { ReplicatedManager, type ReplicatedManagerOptions } from './replicated-manager.ts'
import { newSessionIdBase, type Session, type SessionData } from './session.ts'
import type { TransferRequest, TransferScope, TransferStatus } from './state-transfer.ts'
import { keyOf } from './store.ts'

export interface BackupManagerOptions extends ReplicatedManagerOptions {
  /** Backups of each session (k): 1 + k members hold it. */
  backups: number
  /** How long a request waits for the copy of a session this member does not hold, ms (Tomcat's rpcTimeout). */
  rpcTimeout?: number
  /**
   * Tomcat's terminateOnStartFailure (default false): a start whose state transfer does not complete
   * (startFailure) rejects instead of waiting, not ready, for as long as a donor lives.
   */
  terminateOnStartFailure?: boolean
  /** Tomcat's accessTimeout, ms (default 5000): accepted, without effect (see the header). */
  accessTimeout?: number
}

/** Tomcat's accessTimeout default, ms: another value is noted at start as having no effect. */
export const ACCESS_TIMEOUT_MS = 5_000

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

/** A proxy copy is kept this long after its last use. */
const PROXY_TTL_MS = 5_000
/** Proxy copies per context, at most (the least recently used is dropped first, through repair). */
const MAX_PROXIES = 10_000
/** A repair pass runs at most this often, and this long after a membership change. */
const REPAIR_DELAY_MS = 250
/**
 * A view is taken as the base of the next pass's comparison only once it held this long: a member
 * that left and was the one to send copies (the lead, repair.ts) may not have been noticed gone by
 * every member yet; until then passes compare with the last settled view, so a member whose lead
 * died meanwhile acts as the lead.
 */
const SETTLE_MS = 3_000
/** A full pass runs at least this often (copies held against a view that changed under them). */
const FULL_PASS_MS = 30_000
/** How often the view's readiness and the proxies' lifetimes are checked. */
const TICK_MS = 500

type Role = 'primary' | 'backup' | 'proxy'

interface PlacementCache {
  readonly channelVersion: number
  readonly leavingVersion: number
  readonly mapVersion: number
  /** This member's writer id: '' in a view made before start (a message routed here, /status). */
  readonly self: string
  readonly view: PlacementView
  readonly members: Map<string, Member>
  /** The session last asked about, and its owners under `view`. */
  lastKey: string | undefined
  lastOwners: readonly string[]
}

export class BackupManager extends ReplicatedManager {
  readonly kind = 'backup' as const
  readonly #copies: number
  readonly #rpcTimeout: number
  readonly #terminateOnStartFailure: boolean
  readonly #accessTimeout: number
  #self = ''
  /** This context runs here: announced to the map members, not stopping (it answers announcements). */
  #running = false
  /** The members that have this context started (placement is over them). */
  readonly #map: MapMembers
  /** The placement view, cached for the channel's view, the map and the stopping members it was made of. */
  #view: PlacementCache | undefined
  /** Counts the changes of #leaving (#setLeaving): part of #view's cache key. */
  #leavingVersion = 0
  /** The last settled view (SETTLE_MS) whose repair pass completed: passes compare with it. */
  #before: PlacementView | undefined
  /** The current view's member list, and since when it holds. */
  #viewSig = ''
  #viewSince = 0
  /** Copies confirmed by their new owners since #before was set (not sent twice). */
  readonly #pushed = new Map<string, Set<string>>()
  /** Proxy copies (held, not owned): when each was last used. Oldest use first. */
  readonly #proxies = new Map<string, number>()
  /** Copies whose last write here every owner acknowledged, under which view. */
  readonly #confirmed = new Map<string, string>()
  /** Pushes that failed: sent again at the next pass. */
  readonly #retry = new Map<string, Set<string>>()
  #tick: NodeJS.Timeout | undefined
  #pass: Promise<void> | undefined
  #passDue = false
  #lastFull = 0
  #stopping = false
  /**
   * Members (writer ids) that announced they are stopping: out of placement. At most one entry per
   * member of the view (forgotten when it leaves the view).
   */
  readonly #leaving = new Set<string>()
  readonly #departure: Departure
  readonly #placement = {
    fetches: 0,
    fetchMisses: 0,
    repairPasses: 0,
    copiesDropped: 0,
    proxiesEvicted: 0,
    lastRepairMs: 0,
  }

  constructor(options: BackupManagerOptions) {
    super(options, { fromEveryDonor: true })
    this.#copies = 1 + Math.max(0, options.backups)
    this.#rpcTimeout = options.rpcTimeout ?? 15_000
    this.#terminateOnStartFailure = options.terminateOnStartFailure ?? false
    this.#accessTimeout = options.accessTimeout ?? ACCESS_TIMEOUT_MS
    this.#map = new MapMembers({
      channel: options.channel,
      contextPath: this.contextPath,
      logger: this.logger,
      sent: this.counts.sent,
      received: this.counts.received,
      running: () => this.#running,
      changed: (id) => this.#mapChanged(id),
    })
    this.#departure = new Departure({
      channel: options.channel,
      contextPath: this.contextPath,
      logger: this.logger,
      sent: this.counts.sent,
      copies: this.#copies,
      self: () => this.#self,
      view: () => this.#placementView(),
      keys: () => this.store.keys(),
      holds: (id) => this.store.get(id) !== undefined,
      member: (id) => this.#member(id),
      push: (to, keys) => this.pusher.push(to, keys),
    })
  }

  override async start(): Promise<void> {
    this.#self = writerOf(this.ro.channel.localMember)
    if (this.#accessTimeout !== ACCESS_TIMEOUT_MS)
      this.logger.info(
        { accessTimeout: this.#accessTimeout },
        'manager.accessTimeout has no effect here: membership drops a member that stops answering (membership.expireTime, dropTime, TcpFailureDetector), and a member whose context stops announces it',
      )
    // The map members learn of this one, and answer, before the state transfer asks them.
    this.#running = true
    await this.#map.start()
    const failure = await this.#startTransfer()
    if (failure !== undefined) {
      const err = new CatteryError(
        sessionCodes.CONTEXT_START_FAILED,
        `context ${this.contextPath} failed to start (manager.terminateOnStartFailure): ${failure}`,
      )
      this.logger.error({ code: err.code, reason: failure }, 'context failed to start; leaving')
      // Out of placement, and what it received handed to the owners without it, before it fails.
      await this.stop()
      throw err
    }
    if (this.transfer.stopped) return
    this.#noteView()
    this.#lastFull = Date.now()
    this.ro.channel.on('memberAdded', this.#onViewChange)
    this.ro.channel.on('memberDisappeared', this.#onGone)
    this.#tick = setInterval(() => this.#onTick(), TICK_MS)
    this.#tick.unref()
  }

  /**
   * The replicated manager's start (its state transfer); with terminateOnStartFailure, why it failed
   * (startFailure): the transfer is stopped once stateTransferTimeout passed without it completing.
   */
  async #startTransfer(): Promise<string | undefined> {
    if (!this.#terminateOnStartFailure) {
      await super.start()
      return undefined
    }
    const timeoutMs = Math.min(this.ro.stateTransferTimeout * 1000, MAX_TIMER_MS)
    const started = Date.now()
    let failure: string | undefined
    const deadline = setTimeout(() => {
      failure = startFailure(this.transfer.status(), Date.now() - started, timeoutMs)
      if (failure !== undefined) this.transfer.stop()
    }, timeoutMs)
    try {
      await super.start()
    } finally {
      clearTimeout(deadline)
    }
    if (failure !== undefined || this.transfer.stopped) return failure
    return startFailure(this.transfer.status(), Date.now() - started, Number.POSITIVE_INFINITY)
  }

  override async stop(): Promise<void> {
    this.#stopping = true
    this.#running = false
    clearInterval(this.#tick)
    this.ro.channel.off('memberAdded', this.#onViewChange)
    this.ro.channel.off('memberDisappeared', this.#onGone)
    await this.#pass
    await this.stopAntiEntropy()
    if (this.ro.channel.started) {
      await this.#departure.announce()
      if (!this.ro.expireSessionsOnShutdown) await this.#departure.handOver()
    }
    // Out of the map on every member (placement had it out since `leaving`).
    await this.#map.stop()
    await super.stop()
  }

  override stats(): ManagerStats {
    const roles = { primary: 0, backup: 0, proxy: 0 }
    const view = this.#placementView()
    for (const key of this.store.keys()) roles[this.#roleIn(view, key)]++
    return {
      ...super.stats(),
      backups: this.#copies - 1,
      ...roles,
      placement: {
        ...this.#placement,
        ...this.pusher.counters,
        ...this.#departure.counters,
        ...this.#map.counters,
        members: view.members.length,
      },
    }
  }

  // --- placement ------------------------------------------------------------------------------

  /**
   * The view placement uses: the members seen now that have this context started (map members) and
   * are not stopping, and this one. Several placement questions are asked per request: the view is
   * rebuilt only when the channel's view, the map, the stopping members (their versions) or this
   * member's id (set at start) changed, and the last session's owners are remembered.
   */
  #placementView(): PlacementView {
    const channelVersion = this.ro.channel.viewVersion
    const cached = this.#view
    if (
      cached?.channelVersion === channelVersion &&
      cached.leavingVersion === this.#leavingVersion &&
      cached.mapVersion === this.#map.version &&
      cached.self === this.#self
    )
      return cached.view
    const members: Member[] = []
    const ids: string[] = []
    for (const m of this.ro.channel.members()) {
      const id = writerOf(m)
      if (!this.#map.has(id) || this.#leaving.has(id)) continue
      members.push(m)
      ids.push(id)
    }
    this.#view = {
      channelVersion,
      leavingVersion: this.#leavingVersion,
      mapVersion: this.#map.version,
      self: this.#self,
      view: new PlacementView([...ids, this.#self]),
      members: new Map(members.map((m, i) => [ids[i] as string, m])),
      lastKey: undefined,
      lastOwners: [],
    }
    return this.#view.view
  }

  #member(id: string): Member | undefined {
    this.#placementView()
    return this.#view?.members.get(id)
  }

  #owners(key: string): readonly string[] {
    const view = this.#placementView()
    const cached = this.#view as PlacementCache
    if (cached.lastKey !== key) {
      cached.lastOwners = view.owners(key, this.#copies)
      cached.lastKey = key
    }
    return cached.lastOwners
  }

  /** `id` stops (memberLeaving) or no longer does: out of placement, or back in. */
  #setLeaving(id: string, leaving: boolean): boolean {
    if (this.#leaving.has(id) === leaving) return false
    if (leaving) this.#leaving.add(id)
    else this.#leaving.delete(id)
    this.#leavingVersion++
    return true
  }

  #roleIn(view: PlacementView, key: string): Role {
    const i = view.owners(key, this.#copies).indexOf(this.#self)
    return i === 0 ? 'primary' : i > 0 ? 'backup' : 'proxy'
  }

  /** The other owners of a session, as members. */
  #otherOwners(key: string): Member[] {
    const out: Member[] = []
    for (const id of this.#owners(key)) {
      if (id === this.#self) continue
      const m = this.#member(id)
      if (m) out.push(m)
    }
    return out
  }

  // --- what anti-entropy (anti-entropy.ts, run by ReplicatedManager) asks ----------------------

  protected override holdersOf(view: PlacementView, key: string): readonly string[] {
    return view.owners(key, this.#copies)
  }

  protected override membersView(): PlacementView {
    return this.#placementView()
  }

  protected override memberById(id: string): Member | undefined {
    return this.#member(id)
  }

  protected override acceptsPush(to: Member): boolean {
    return !this.#leaving.has(writerOf(to))
  }

  /** The last repair pass was over this view, and none is due or running. */
  protected override antiEntropySettled(): boolean {
    return (
      !this.#stopping &&
      this.#before !== undefined &&
      this.#before.equals(this.#placementView()) &&
      !this.#pass &&
      this.#retry.size === 0
    )
  }

  protected override newIdBase(): string {
    // The creator is the primary (as in Tomcat): the id is drawn until this member ranks first. Each
    // draw succeeds with probability 1/N; the id keeps 128 - log2(N) bits of randomness.
    const view = this.#placementView()
    const tries = 64 * view.members.length
    for (let i = 0; i < tries; i++) {
      const id = newSessionIdBase()
      if (view.owners(id, 1)[0] === this.#self) return id
    }
    return newSessionIdBase()
  }

  protected override targets(message: SessionMessage): Member[] {
    switch (message.type) {
      case 'created':
        return this.#otherOwners(keyOf(message.session.id))
      case 'delta':
      case 'accessed':
      case 'expired':
        return this.#otherOwners(keyOf(message.id))
      case 'change-id': {
        const to = this.#otherOwners(keyOf(message.id))
        for (const m of this.#otherOwners(keyOf(message.newId))) if (!to.includes(m)) to.push(m)
        return to
      }
      default:
        return []
    }
  }

  protected override stateIds(to: Member, scope?: TransferScope): string[] {
    const joiner = writerOf(to)
    const members = this.#placementView().members.filter((m) => m !== joiner)
    const view = new PlacementView([...members, joiner])
    const ids: string[] = []
    // Each session is sent by one of its holders (joiner-share.ts) when the view is settled (the
    // members that own a session hold it: the last repair pass was over this view). Otherwise a new
    // owner may not hold its copy yet: every holder sends what it holds of the joiner's share.
    const holders = new PlacementView(members)
    const settled =
      this.#before !== undefined &&
      holders.equals(new PlacementView(this.#before.members.filter((m) => m !== joiner)))
    if (!scope || !settled) {
      for (const key of this.store.keys()) if (view.owners(key, this.#copies).includes(joiner)) ids.push(key)
      return ids
    }
    const donors = new Set(scope.donors)
    const sent = scope.sent && new Set(scope.sent)
    // A repeated request: the view then had the donors of then (one of them left since).
    const then = sent && new PlacementView([...members, ...sent].filter((m) => m !== joiner))
    const thenWithJoiner = then && new PlacementView([...then.members, joiner])
    for (const key of this.store.keys()) {
      if (!view.owners(key, this.#copies).includes(joiner)) continue
      const earlier = sent &&
        then &&
        thenWithJoiner && {
          holders: thenWithJoiner.owners(key, this.#copies).includes(joiner)
            ? then.owners(key, this.#copies)
            : undefined,
          donors: sent,
        }
      if (sendsToJoiner(this.#self, holders.owners(key, this.#copies), donors, earlier)) ids.push(key)
    }
    return ids
  }

  protected override get relaysToJoiners(): boolean {
    // Senders that see the joiner send it the changes of the sessions it owns; a relay would bring
    // it changes of sessions it does not own.
    return false
  }

  protected override announcesExpiry(session: Session): boolean {
    return this.#owners(keyOf(session.id))[0] === this.#self
  }

  protected override askAtOnce(id: string): Member[] | undefined {
    const key = keyOf(id)
    if (this.#owners(key).includes(this.#self) && this.store.get(key)) return undefined
    return this.#otherOwners(key)
  }

  // --- serving --------------------------------------------------------------------------------

  override async findSession(id: string): Promise<Session | undefined> {
    const held = await super.findSession(id)
    const key = keyOf(id)
    if (held) {
      if (this.#proxies.has(key)) this.#used(key)
      return held
    }
    if (this.replicaLog.isGone(id) || this.#stopping) return undefined
    const owners = this.#otherOwners(key)
    if (owners.length === 0) return undefined
    this.#placement.fetches++
    if (!this.fetcher.request(id, { version: 1, writer: '' }, undefined, owners)) return undefined
    const end = await this.waiters.wait(
      key,
      { version: 1, writer: '' },
      { timeoutMs: this.#rpcTimeout, slowMs: Number.POSITIVE_INFINITY, slow: () => {} },
    )
    const s = this.store.get(key)
    if (end !== 'caught-up' || !s) {
      this.#placement.fetchMisses++
      return undefined
    }
    return s
  }

  override async changeSessionId(session: Session, newId: string): Promise<void> {
    const oldKey = keyOf(session.id)
    await super.changeSessionId(session, newId)
    const newKey = keyOf(newId)
    if (newKey === oldKey) return
    // regenerate(): the new id may have other owners; those that did not own the old one get a copy.
    this.#confirmed.delete(oldKey)
    this.#proxies.delete(oldKey)
    const old = new Set(this.#owners(oldKey))
    for (const m of this.#otherOwners(newKey)) if (!old.has(writerOf(m))) void this.pusher.push(m, [newKey])
    this.#noteHeld(newKey)
  }

  protected override async replicate(message: SessionMessage): Promise<boolean> {
    const ok = await super.replicate(message)
    const key = changedKey(message)
    if (key !== undefined) {
      // Only a proxy's writes are remembered (an owner keeps its copy): no cost per owned session,
      // nor for a copy dropped while the request ran.
      const proxy = !this.#owners(key).includes(this.#self) && this.store.get(key) !== undefined
      if (proxy && ok && (this.ro.sendOptions & SendOption.SYNCHRONIZED_ACK) !== 0)
        this.#confirmed.set(key, this.#placementView().members.join(','))
      else this.#confirmed.delete(key)
    }
    return ok
  }

  /**
   * A change or new session that did not reach an owner (it did not know this member yet, or the
   * connection failed while the view still holds it): the next repair pass pushes the whole copy to
   * that owner, as it does after a failed push. Without this the owner would lack the copy, or miss
   * the change, until the view next changed. (Asynchronous sends report no failure.)
   */
  protected override replicationFailed(message: SessionMessage, err: unknown): void {
    const key = changedKey(message)
    if (key === undefined || !this.store.get(key)) return
    const failed = err instanceof ChannelSendError ? new Set(err.failures.map((f) => f.member)) : undefined
    for (const m of this.#otherOwners(key))
      if (!failed || failed.has(describeMember(m))) this.#retryLater(key, writerOf(m))
  }

  /** A copy arrived (fetched, pushed, transferred): one this member does not own is a proxy. */
  protected override installCopy(
    d: SessionData,
    from: Member | undefined,
    kind: 'created' | 'all-data' | 'session-copy' | 'backup',
    encodedBytes?: number,
  ): boolean {
    const ok = super.installCopy(d, from, kind, encodedBytes)
    if (ok && typeof d?.id === 'string' && this.store.get(d.id)) this.#noteHeld(keyOf(d.id))
    return ok
  }

  #noteHeld(key: string): void {
    if (!this.#owners(key).includes(this.#self)) this.#used(key)
  }

  #used(key: string): void {
    this.#proxies.delete(key)
    this.#proxies.set(key, Date.now())
    if (this.#proxies.size > MAX_PROXIES) this.#schedule(0)
  }

  override receive(m: ManagerMessage, from: Member, sendOptions = 0): Promise<void> | undefined {
    // Not a ManagerMessage: a notice only this manager reads (messages.ts).
    const notice: unknown = m
    if (isMapMember(notice)) {
      // A member that announced its departure and says its context runs started it anew.
      if (notice.present === true && this.#setLeaving(writerOf(from), false) && this.#tick !== undefined)
        this.#onViewChange()
      return this.#map.receive(notice, from)
    }
    const handled = super.receive(m, from, sendOptions)
    if (m.type === 'change-id') this.#renamed(m.newId)
    else if (m.type === 'batch' && Array.isArray(m.messages))
      for (const x of m.messages)
        if ((x as SessionMessage)?.type === 'change-id') this.#renamed((x as { newId: unknown }).newId)
    if (!this.#departure.departing) return handled
    const forwarded = this.#departure.forward(m, from)
    if (!forwarded) return handled
    return handled ? Promise.all([handled, forwarded]).then(() => undefined) : forwarded
  }

  /**
   * An id change was applied here: when this member does not own the new id (it owned the old one),
   * its copy is handed to the new id's owners and dropped at once, instead of at the next repair pass.
   */
  #renamed(newId: unknown): void {
    if (typeof newId !== 'string' || this.#stopping) return
    const key = keyOf(newId)
    if (!this.store.get(key) || this.#owners(key).includes(this.#self) || this.#proxies.has(key)) return
    void this.#release(key)
  }

  /** The copy of `key` goes to member `writer` with the next repair pass. */
  #retryLater(key: string, writer: string): void {
    const set = this.#retry.get(key)
    if (set) set.add(writer)
    else this.#retry.set(key, new Set([writer]))
  }

  async #release(key: string): Promise<void> {
    const owners = this.#otherOwners(key)
    const confirmed = await Promise.all(owners.map((m) => this.pusher.push(m, [key])))
    let kept = false
    owners.forEach((m, i) => {
      if (confirmed[i]?.has(key)) return
      // Sent again by the next pass, which drops the copy then.
      this.#retryLater(key, writerOf(m))
      kept = true
    })
    // Owned or used here meanwhile: kept.
    if (kept || this.#owners(key).includes(this.#self) || this.#proxies.has(key) || !this.store.get(key))
      return
    this.store.delete(key)
    this.#confirmed.delete(key)
    this.#placement.copiesDropped++
  }

  // --- repair ---------------------------------------------------------------------------------

  readonly #onViewChange = () => {
    this.#noteView()
    this.#schedule(REPAIR_DELAY_MS)
  }

  readonly #onGone = (m: Member) => {
    this.#setLeaving(writerOf(m), false)
    this.#onViewChange()
  }

  /** Another member announced its departure: out of placement from now on. */
  protected override memberLeaving(from: Member): void {
    const id = writerOf(from)
    if (this.#leaving.has(id) || !this.ro.channel.members().some((m) => writerOf(m) === id)) return
    this.#setLeaving(id, true)
    this.logger.info({ member: describeMember(from) }, 'a member is stopping: out of placement')
    this.#onViewChange()
  }

  /**
   * A member entered or left the map. One back in it after it announced its departure started this
   * context anew; one out of it is out of placement anyway: either way no longer a stopping member.
   */
  #mapChanged(id: string): void {
    this.#setLeaving(id, false)
    if (this.#tick !== undefined) this.#onViewChange()
  }

  /** A member that announced its departure and asks for state again started this context anew. */
  override sendState(to: Member, request: TransferRequest): Promise<boolean> {
    if (this.#setLeaving(writerOf(to), false)) this.#onViewChange()
    return super.sendState(to, request)
  }

  /** The view now; notes since when it holds. */
  #noteView(): PlacementView {
    const view = this.#placementView()
    const sig = view.members.join(',')
    if (sig !== this.#viewSig) {
      this.#viewSig = sig
      this.#viewSince = Date.now()
    }
    return view
  }

  #onTick(): void {
    // A member's readiness changes without a view event: a joiner that became ready may now
    // confirm copies others wait to drop.
    const now = Date.now()
    this.#map.retry()
    if (this.#leaving.size > 0) {
      const ids = new Set(this.ro.channel.members().map((m) => writerOf(m)))
      for (const id of [...this.#leaving]) if (!ids.has(id)) this.#setLeaving(id, false)
    }
    const view = this.#noteView()
    const unsettled = this.#before === undefined || !this.#before.equals(view)
    let due =
      (unsettled && now - this.#viewSince >= SETTLE_MS) ||
      this.#retry.size > 0 ||
      now - this.#lastFull > FULL_PASS_MS
    const oldest = this.#proxies.values().next().value
    if (oldest !== undefined && now - oldest > PROXY_TTL_MS) due = true
    if (due) this.#schedule(0)
  }

  #schedule(delay: number): void {
    if (this.#stopping) return
    this.#passDue = true
    if (this.#pass) return
    this.#pass = (async () => {
      await new Promise((r) => setTimeout(r, delay))
      while (this.#passDue && !this.#stopping) {
        this.#passDue = false
        try {
          await this.#repair()
        } catch (err) {
          this.logger.warn({ err: (err as Error).message }, 'repair pass failed')
        }
      }
    })().finally(() => {
      this.#pass = undefined
    })
  }

  /** One repair pass over every copy held (repair.ts decides, this sends and drops). */
  async #repair(): Promise<void> {
    const started = Date.now()
    const after = this.#noteView()
    const before = this.#before
    const viewKey = after.members.join(',')
    const now = Date.now()
    // A proxy entry of a copy this member owns now, or holds no more, is none: left in the list,
    // past its lifetime it would make every tick run a pass.
    for (const key of this.#proxies.keys())
      if (!this.store.get(key) || after.owners(key, this.#copies).includes(this.#self))
        this.#proxies.delete(key)
    const lru = this.#proxies.size - MAX_PROXIES
    let i = 0
    const inUse = new Map<string, boolean>()
    for (const [key, at] of this.#proxies) inUse.set(key, i++ >= lru && now - at <= PROXY_TTL_MS)
    const held = (function* (manager: BackupManager, keys: IterableIterator<string>): Generator<HeldCopy> {
      for (const key of keys)
        yield { key, inUse: inUse.get(key) ?? false, confirmed: manager.#confirmed.get(key) === viewKey }
    })(this, this.store.keys())
    const actions = planRepair({ self: this.#self, before, after, copies: this.#copies }, held)
    this.#lastFull = now
    this.#placement.repairPasses++
    // Failed pushes of earlier passes are sent again.
    const byMember = new Map<string, Set<string>>()
    const add = (member: string, key: string) => {
      const set = byMember.get(member) ?? new Set<string>()
      byMember.set(member, set)
      set.add(key)
    }
    for (const [key, members] of this.#retry) for (const m of members) if (after.has(m)) add(m, key)
    this.#retry.clear()
    for (const a of actions) for (const m of a.to) if (!this.#pushed.get(a.key)?.has(m)) add(m, a.key)
    const failed = new Set<string>()
    await Promise.all(
      [...byMember].map(async ([id, keys]) => {
        const member = this.#member(id)
        if (!member) return
        const confirmed = await this.pusher.push(member, keys)
        for (const k of confirmed) {
          const set = this.#pushed.get(k) ?? new Set<string>()
          this.#pushed.set(k, set)
          set.add(id)
        }
        for (const k of keys)
          if (!confirmed.has(k)) {
            failed.add(k)
            this.#retryLater(k, id)
          }
      }),
    )
    this.#drop(actions, failed)
    if (failed.size === 0 && now - this.#viewSince >= SETTLE_MS && after.equals(this.#placementView())) {
      this.#before = after
      this.#pushed.clear()
    }
    this.#placement.lastRepairMs = Date.now() - started
    if (actions.length > 0)
      this.logger.info(
        {
          actions: actions.length,
          members: after.members.length,
          failed: failed.size,
          ms: Date.now() - started,
        },
        'repair pass: session copies placed on their owners',
      )
  }

  /** Drops the copies repair decided to drop, once every push of theirs was confirmed. */
  #drop(actions: RepairAction[], failed: Set<string>): void {
    for (const a of actions) {
      if (!a.drop || failed.has(a.key)) continue
      const s = this.store.get(a.key)
      // Still not an owner, and not used again meanwhile.
      if (!s || this.#owners(a.key).includes(this.#self)) continue
      const at = this.#proxies.get(a.key)
      if (at !== undefined && Date.now() - at <= PROXY_TTL_MS && this.#proxies.size <= MAX_PROXIES) continue
      this.store.delete(a.key)
      this.#proxies.delete(a.key)
      this.#confirmed.delete(a.key)
      if (at !== undefined) this.#placement.proxiesEvicted++
      else this.#placement.copiesDropped++
    }
  }
}

/** The session a new session, a change or a change of id is about (its key), else undefined. */
function changedKey(m: SessionMessage): string | undefined {
  if (m.type === 'created') return keyOf(m.session.id)
  if (m.type === 'change-id') return keyOf(m.newId)
  if (m.type === 'delta') return keyOf(m.id)
  return undefined
}
