/**
 * Tomcat's BackupManager: each session is held by 1 + k members (`backups: k`, default 1) — its
 * owners, placed by rendezvous hashing over the member view (placement.ts), the first being its
 * primary — instead of by every member, so memory and replication traffic per member stop growing
 * with the cluster. Replication, ranks, the replica log and read-your-writes are the DeltaManager's
 * (replicated-manager.ts); what differs:
 *
 * - **Placement**: any member computes a session's owners from its view (cached: placement-cache.ts);
 *   no proxy entries or messages (Tomcat's LazyReplicatedMap keeps a proxy entry per session on every
 *   member and sends proxy messages to keep them). A new session's id is chosen so that its creator
 *   is its primary (primary-id.ts).
 *   The view is the map members (map-members.ts): the channel members that have this context
 *   started, as Tomcat's map members — copies go only to members that have the application deployed.
 * - **Messages about a session** go to its other owners only (message-owners.ts), with
 *   `manager.mapSendOptions` (Tomcat's name; default 6, synchronous ACK).
 * - **A request on a member that holds no copy** fetches it from the owners (`session-request` /
 *   `session-copy`, session-fetch.ts), waiting at most `rpcTimeout`, and serves it; its writes go to
 *   the owners as any member's. The fetched copy stays as a proxy for a while after its last use
 *   (proxy-copies.ts), so a client whose balancer keeps it on this member does not fetch on every
 *   request; the version cookie catches a proxy that is older than what its client saw (askAtOnce:
 *   the owners are asked at once).
 * - **Repair** (repair.ts, run by repair-pass.ts): after a membership change, and for proxies past
 *   their lifetime, each member sends copies to owners that may lack them and drops copies it does
 *   not own once every owner confirmed them (ownership-transfer.ts), paced every REPAIR_DELAY_MS.
 * - **Join**: a joiner gets, from every ready member, the sessions it owns (state-transfer.ts with
 *   fromEveryDonor; stateIds: joiner-sessions.ts, each session sent by one of its holders,
 *   joiner-share.ts), and is ready only then.
 * - **Change of id** (renamed-copies.ts): the new id's new owners get a copy; an old owner that does
 *   not own the new id hands its renamed copy to them and drops it at once, not at the next pass.
 * - **Stop** (departure.ts): a stopping member first announces its departure (`leaving`,
 *   synchronously acknowledged: each member takes it out of placement at once), then hands over the
 *   sessions it owns to the members that own them without it, then leaves the channel; what still
 *   reaches it meanwhile is passed on to the owners without it before it is acknowledged.
 * - **Anti-entropy** (anti-entropy.ts, run by ReplicatedManager): a session's owners compare
 *   digests of the sessions they own together, and only once the last repair pass was over the view.
 * - **Expiry**: every holder expires an idle copy; only the primary announces it.
 * - **terminateOnStartFailure** (Tomcat's; default false; start-failure.ts): a start whose state
 *   transfer does not complete rejects with CATTERY_ERR_CONTEXT_START_FAILED — a starting node exits
 *   (node/main.ts), a later deploy fails — instead of staying not ready while it keeps trying.
 * - **accessTimeout** (Tomcat's map ping timeout): accepted, without effect. Tomcat drops a map member
 *   that does not answer its map's ping within it; here a map member leaves the map when it leaves
 *   the channel's view, from which membership drops a member that stops answering
 *   (membership.expireTime, dropTime, TcpFailureDetector), and a member whose context stops
 *   announces it (`leaving`, then `map-member` with `present: false`).
 */

import { ChannelSendError } from '../tribes/errors.ts'
import { describeMember, type Member } from '../tribes/member.ts'
import { SendOption } from '../tribes/send-options.ts'
import type { ManagerMessage } from './cluster-manager.ts'
import { Departure } from './departure.ts'
import { sessionsForJoiner } from './joiner-sessions.ts'
import type { ManagerStats } from './manager.ts'
import { MapMembers } from './map-members.ts'
import { changedKey, ownersToTell } from './message-owners.ts'
import { isMapMember, type SessionMessage } from './messages.ts'
import type { PlacementView } from './placement.ts'
import { PlacementCache } from './placement-cache.ts'
import { primaryIdBase } from './primary-id.ts'
import { ProxyCopies } from './proxy-copies.ts'
import { writerOf } from './rank.ts'
import { RenamedCopies } from './renamed-copies.ts'
import { RepairPass } from './repair-pass.ts'
import { ReplicatedManager, type ReplicatedManagerOptions } from './replicated-manager.ts'
import type { Session, SessionData } from './session.ts'
import { startFailedError, startWithin, transferCompleted } from './start-failure.ts'
import type { TransferRequest, TransferScope } from './state-transfer.ts'
import { keyOf } from './store.ts'

export interface BackupManagerOptions extends ReplicatedManagerOptions {
  /** Backups of each session (k): 1 + k members hold it. */
  backups: number
  /** How long a request waits for the copy of a session this member does not hold, ms (Tomcat's rpcTimeout). */
  rpcTimeout?: number
  /**
   * Tomcat's terminateOnStartFailure (default false): a start whose state transfer does not complete
   * (start-failure.ts) rejects instead of waiting, not ready, for as long as a donor lives.
   */
  terminateOnStartFailure?: boolean
  /** Tomcat's accessTimeout, ms (default 5000): accepted, without effect (see the header). */
  accessTimeout?: number
}

/** Tomcat's accessTimeout default, ms: another value is noted at start as having no effect. */
export const ACCESS_TIMEOUT_MS = 5_000

/** How often the view's readiness and the proxies' lifetimes are checked. */
const TICK_MS = 500

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
  /** The placement view over the map members that are not stopping (and their owners), cached. */
  readonly #placement: PlacementCache
  /** Proxy copies (held, not owned) and when each was last used. */
  readonly #proxies: ProxyCopies
  #tick: NodeJS.Timeout | undefined
  #stopping = false
  readonly #repair: RepairPass
  readonly #departure: Departure
  /** Copies whose session changed its id (this member may not own the new one). */
  readonly #renamed: RenamedCopies
  readonly #counters = {
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
    this.#placement = new PlacementCache({
      channel: options.channel,
      map: this.#map,
      copies: this.#copies,
      self: () => this.#self,
    })
    this.#proxies = new ProxyCopies({
      isProxy: (key, view) =>
        this.store.get(key) !== undefined && !view.owners(key, this.#copies).includes(this.#self),
      tooMany: () => this.#repair.runSoon(),
    })
    this.#repair = new RepairPass({
      logger: this.logger,
      copies: this.#copies,
      self: () => this.#self,
      view: () => this.#placement.view(),
      member: (id) => this.#placement.member(id),
      keys: () => this.store.keys(),
      push: (to, keys) => this.pusher.push(to, keys),
      proxiesInUse: (view, now) => this.#proxies.inUse(view, now),
      proxyExpired: (now) => this.#proxies.expired(now),
      drop: (key) => this.#dropUnused(key),
      counters: this.#counters,
    })
    this.#renamed = new RenamedCopies({
      placement: this.#placement,
      proxies: this.#proxies,
      repair: this.#repair,
      holds: (key) => this.store.get(key) !== undefined,
      drop: (key) => this.store.delete(key),
      push: (to, keys) => this.pusher.push(to, keys),
      noteHeld: (key) => this.#noteHeld(key),
      stopping: () => this.#stopping,
      counters: this.#counters,
    })
    this.#departure = new Departure({
      channel: options.channel,
      contextPath: this.contextPath,
      logger: this.logger,
      sent: this.counts.sent,
      copies: this.#copies,
      self: () => this.#self,
      view: () => this.#placement.view(),
      keys: () => this.store.keys(),
      holds: (id) => this.store.get(id) !== undefined,
      member: (id) => this.#placement.member(id),
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
    // The replicated manager's start (its state transfer); with terminateOnStartFailure, why it failed.
    let failure: string | undefined
    if (this.#terminateOnStartFailure)
      failure = await startWithin(this.transfer, this.ro.stateTransferTimeout, () => super.start())
    else await super.start()
    if (failure !== undefined) {
      const err = startFailedError(this.contextPath, failure)
      this.logger.error({ code: err.code, reason: failure }, 'context failed to start; leaving')
      // Out of placement, and what it received handed to the owners without it, before it fails.
      await this.stop()
      throw err
    }
    if (this.transfer.stopped) return
    this.#repair.start()
    this.ro.channel.on('memberAdded', this.#onViewChange)
    this.ro.channel.on('memberDisappeared', this.#onGone)
    this.#tick = setInterval(() => this.#onTick(), TICK_MS)
    this.#tick.unref()
  }

  /** Under terminateOnStartFailure, a transfer that ended incomplete does not make this member ready. */
  protected override transferAccepted(): boolean {
    return !this.#terminateOnStartFailure || transferCompleted(this.transfer.status())
  }

  override async stop(): Promise<void> {
    this.#stopping = true
    this.#running = false
    clearInterval(this.#tick)
    this.ro.channel.off('memberAdded', this.#onViewChange)
    this.ro.channel.off('memberDisappeared', this.#onGone)
    await this.#repair.stop()
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
    const view = this.#placement.view()
    for (const key of this.store.keys()) roles[this.#placement.roleIn(view, key)]++
    return {
      ...super.stats(),
      backups: this.#copies - 1,
      ...roles,
      placement: {
        ...this.#counters,
        ...this.pusher.counters,
        ...this.#departure.counters,
        ...this.#map.counters,
        members: view.members.length,
      },
    }
  }

  // --- what anti-entropy (anti-entropy.ts, run by ReplicatedManager) asks ----------------------

  protected override holdersOf(view: PlacementView, key: string): readonly string[] {
    return view.owners(key, this.#copies)
  }

  protected override membersView(): PlacementView {
    return this.#placement.view()
  }

  protected override memberById(id: string): Member | undefined {
    return this.#placement.member(id)
  }

  protected override acceptsPush(to: Member): boolean {
    return !this.#placement.isLeaving(writerOf(to))
  }

  /** The last repair pass was over this view, and none is due or running. */
  protected override antiEntropySettled(): boolean {
    return !this.#stopping && this.#repair.settled()
  }

  protected override newIdBase(): string {
    // The creator is the primary (as in Tomcat).
    return primaryIdBase(this.#placement.view(), this.#self)
  }

  protected override targets(message: SessionMessage): Member[] {
    return ownersToTell(message, this.#placement)
  }

  protected override stateIds(to: Member, scope?: TransferScope): string[] {
    const input = {
      self: this.#self,
      joiner: writerOf(to),
      copies: this.#copies,
      view: this.#placement.view(),
      settled: this.#repair.settledView,
      keys: this.store.keys(),
    }
    return sessionsForJoiner(input, scope)
  }

  protected override get relaysToJoiners(): boolean {
    // Senders that see the joiner send it the changes of the sessions it owns; a relay would bring
    // it changes of sessions it does not own.
    return false
  }

  protected override announcesExpiry(session: Session): boolean {
    return this.#placement.owners(keyOf(session.id))[0] === this.#self
  }

  protected override askAtOnce(id: string): Member[] | undefined {
    const key = keyOf(id)
    if (this.#placement.owns(key) && this.store.get(key)) return undefined
    return this.#placement.otherOwners(key)
  }

  // --- serving --------------------------------------------------------------------------------

  override async findSession(id: string): Promise<Session | undefined> {
    const held = await super.findSession(id)
    const key = keyOf(id)
    if (held) {
      if (this.#proxies.has(key)) this.#proxies.used(key, Date.now())
      return held
    }
    if (this.replicaLog.isGone(id) || this.#stopping) return undefined
    const owners = this.#placement.otherOwners(key)
    if (owners.length === 0) return undefined
    this.#counters.fetches++
    if (!this.fetcher.request(id, { version: 1, writer: '' }, undefined, owners)) return undefined
    const end = await this.waiters.wait(
      key,
      { version: 1, writer: '' },
      { timeoutMs: this.#rpcTimeout, slowMs: Number.POSITIVE_INFINITY, slow: () => {} },
    )
    const s = this.store.get(key)
    if (end !== 'caught-up' || !s) {
      this.#counters.fetchMisses++
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
    this.#renamed.changedHere(oldKey, newKey)
  }

  protected override async replicate(message: SessionMessage): Promise<boolean> {
    const ok = await super.replicate(message)
    const key = changedKey(message)
    if (key !== undefined) {
      // Only a proxy's writes are remembered (an owner keeps its copy): no cost per owned session,
      // nor for a copy dropped while the request ran.
      const proxy = !this.#placement.owns(key) && this.store.get(key) !== undefined
      if (proxy && ok && (this.ro.sendOptions & SendOption.SYNCHRONIZED_ACK) !== 0) this.#repair.confirm(key)
      else this.#repair.unconfirm(key)
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
    for (const m of this.#placement.otherOwners(key))
      if (!failed || failed.has(describeMember(m))) this.#repair.retryLater(key, writerOf(m))
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
    if (!this.#placement.owns(key)) this.#proxies.used(key, Date.now())
  }

  override receive(m: ManagerMessage, from: Member, sendOptions = 0): Promise<void> | undefined {
    // Not a ManagerMessage: a notice only this manager reads (messages.ts).
    const notice: unknown = m
    if (isMapMember(notice)) {
      // A member that announced its departure and says its context runs started it anew.
      if (
        notice.present === true &&
        this.#placement.setLeaving(writerOf(from), false) &&
        this.#tick !== undefined
      )
        this.#onViewChange()
      return this.#map.receive(notice, from)
    }
    const handled = super.receive(m, from, sendOptions)
    this.#renamed.received(m)
    if (!this.#departure.departing) return handled
    const forwarded = this.#departure.forward(m, from)
    if (!forwarded) return handled
    return handled ? Promise.all([handled, forwarded]).then(() => undefined) : forwarded
  }

  // --- repair ---------------------------------------------------------------------------------

  readonly #onViewChange = () => {
    this.#repair.viewChanged()
  }

  readonly #onGone = (m: Member) => {
    this.#placement.setLeaving(writerOf(m), false)
    this.#onViewChange()
  }

  /** Another member announced its departure: out of placement from now on. */
  protected override memberLeaving(from: Member): void {
    const id = writerOf(from)
    if (this.#placement.isLeaving(id) || !this.ro.channel.members().some((m) => writerOf(m) === id)) return
    this.#placement.setLeaving(id, true)
    this.logger.info({ member: describeMember(from) }, 'a member is stopping: out of placement')
    this.#onViewChange()
  }

  /**
   * A member entered or left the map. One back in it after it announced its departure started this
   * context anew; one out of it is out of placement anyway: either way no longer a stopping member.
   */
  #mapChanged(id: string): void {
    this.#placement.setLeaving(id, false)
    if (this.#tick !== undefined) this.#onViewChange()
  }

  /** A member that announced its departure and asks for state again started this context anew. */
  override sendState(to: Member, request: TransferRequest): Promise<boolean> {
    if (this.#placement.setLeaving(writerOf(to), false)) this.#onViewChange()
    return super.sendState(to, request)
  }

  // --- the tick, and what a repair pass drops ---------------------------------------------------

  #onTick(): void {
    const now = Date.now()
    this.#map.retry()
    this.#placement.forgetGone()
    this.#repair.tick(now)
  }

  /** Drops a copy repair decided to drop: true unless this member owns it now or used it again meanwhile. */
  #dropUnused(key: string): boolean {
    const s = this.store.get(key)
    // Still not an owner, and not used again meanwhile.
    if (!s || this.#placement.owns(key) || this.#proxies.keeps(key, Date.now())) return false
    this.store.delete(key)
    if (this.#proxies.forget(key)) this.#counters.proxiesEvicted++
    else this.#counters.copiesDropped++
    return true
  }
}
