/**
 * What the replicated managers share (Tomcat's ClusterManagerBase with DeltaManager's message
 * handling): a session's creation is sent at once, each request's changes at its end (as a delta:
 * local-writes.ts), expiry and invalidation as they happen, and an 'accessed' note keeps a session
 * that is only read alive elsewhere (replication-sender.ts: with every member as destination they
 * leave in batches, paced by the channel's asyncWriteInterval with asynchronous send options, at the
 * end of each turn with synchronous ones, where the requests of a turn wait for one ACK per member).
 * What arrives is checked (replicated-checks.ts) and applied (replica-receiver.ts) as the replica
 * log decides (replica-log.ts: ranks, held changes, tombstones); a joining member first receives
 * its state (state-transfer.ts) and is ready only then. Every version this member makes carries its
 * writer id (rank.ts). Read-your-writes: a request whose client saw a newer state than the copy held
 * waits for it (version-waiters.ts) and, past a short delay, fetches it (session-fetch.ts); the
 * session plugin's valve (node/server/read-your-writes.ts) asks through catchUp().
 *
 * While the view holds still, members compare digests of the sessions they share and push what the
 * other lacks (anti-entropy.ts), so a copy, change or end lost without a view change is restored.
 *
 * A subclass says where a session's messages go (`targets`: every member for the DeltaManager, the
 * session's other owners for the BackupManager), which sessions a joiner gets (`stateIds`), who
 * announces an expiry (`announcesExpiry`) and who holds a session's copies (`holdersOf`).
 */
import type { Channel } from '../tribes/channel-types.ts'
import type { Member } from '../tribes/member.ts'
import { ANTI_ENTROPY_MS, AntiEntropy } from './anti-entropy.ts'
import type { ClusterManager, ManagerMessage } from './cluster-manager.ts'
import { LocalWrites } from './local-writes.ts'
import { BaseManager, type CatchUp, type ManagerOptions, type ManagerStats } from './manager.ts'
import { type MessageCounts, newMessageCounts, SESSION_MESSAGE, type SessionMessage } from './messages.ts'
import { CopyPusher } from './ownership-transfer.ts'
import { PlacementView } from './placement.ts'
import { compareRank, internWriter, type Rank, writerOf } from './rank.ts'
import { ReplicaLog } from './replica-log.ts'
import { type CopyKind, ReplicaReceiver } from './replica-receiver.ts'
import { DEFAULT_REPLICATION, type ReplicaLimits } from './replicated-checks.ts'
import { ReplicationSender } from './replication-sender.ts'
import type { Session, SessionData } from './session.ts'
import { SessionFetch } from './session-fetch.ts'
import { StateTransfer, type TransferRequest, type TransferScope } from './state-transfer.ts'
import { keyOf } from './store.ts'
import { VersionWaiters } from './version-waiters.ts'

export interface ReplicatedManagerOptions extends ManagerOptions {
  channel: Channel
  /** Tribes send options for replication (8: asynchronous). */
  sendOptions: number
  expireSessionsOnShutdown: boolean
  notifyListenersOnReplication: boolean
  /**
   * Seconds after which a joining member still without a complete transfer logs an error; it keeps
   * trying (and stays not ready) while a member that holds sessions is alive (state-transfer.ts).
   */
  stateTransferTimeout: number
  /** Sessions per state-transfer page. */
  sendAllSessionsSize: number
  /** Bounds of replicated versions and times (replicated-checks.ts); defaults: DEFAULT_REPLICATION. */
  replication?: { maxVersionStep: number; maxClockSkewMs: number }
  /** Read-your-writes without sticky balancing (manager.readYourWrites; default true). */
  readYourWrites?: boolean
  /** The longest a request waits for its client's last write, ms (manager.readYourWritesTimeout; 1000). */
  readYourWritesTimeout?: number
  /** How often this member sends its anti-entropy digests, ms (manager.antiEntropyInterval; 30000; 0: never). */
  antiEntropyInterval?: number
}

export abstract class ReplicatedManager extends BaseManager implements ClusterManager {
  readonly distributable = true
  protected readonly ro: ReplicatedManagerOptions
  #ready = false
  protected readonly replicaLog: ReplicaLog<Session>
  protected readonly transfer: StateTransfer
  /** Where session messages leave (batched when they go to every member). */
  readonly #sender: ReplicationSender
  protected readonly counts = { sent: newMessageCounts(), received: newMessageCounts() }
  /** What other members send: checked, then applied (or held by the replica log). */
  readonly #receiver: ReplicaReceiver
  /** What this member's requests write: their next versions, sent. */
  readonly #writes: LocalWrites
  /** Read-your-writes: requests waiting for a newer copy, and copies asked of other members. */
  protected readonly waiters = new VersionWaiters()
  protected readonly fetcher: SessionFetch
  protected readonly ryw = { caughtUp: 0, staleReads: 0 }
  /** Full copies pushed to other members (anti-entropy; the BackupManager's repair and hand-off). */
  protected readonly pusher: CopyPusher
  readonly #antiEntropy: AntiEntropy
  /** The members view (holdersOf's view by default), for the channel's view version. */
  #membersView: { version: number | undefined; view: PlacementView } | undefined

  constructor(options: ReplicatedManagerOptions, transfer: { fromEveryDonor?: boolean } = {}) {
    super(options)
    this.ro = options
    const limits: ReplicaLimits = {
      ...options.policy,
      ...DEFAULT_REPLICATION,
      ...options.replication,
      maxActiveSessions: options.maxActiveSessions,
    }
    this.replicaLog = new ReplicaLog<Session>({
      replicas: {
        find: (id) => this.store.get(id),
        apply: (s, change, from) => this.#receiver.apply(s, change, from),
        fetch: (id, want, from) => void this.fetcher.request(id, want, from),
        remove: (id) => void this.store.delete(id),
      },
      logger: this.logger,
      transferring: () => this.transfer.transferring,
      resync: (from) => this.#ready && this.transfer.resync(from, 'changes held past the hold timeout'),
    })
    this.transfer = new StateTransfer({
      channel: options.channel,
      contextPath: this.contextPath,
      logger: this.logger,
      sessions: {
        ids: (to, scope) => this.stateIds(to, scope),
        data: (id) => this.store.get(id)?.toData(),
        install: (d, bytes) => this.#receiver.installPage(d, bytes),
      },
      sent: this.counts.sent,
      timeoutSeconds: options.stateTransferTimeout,
      pageSize: options.sendAllSessionsSize,
      fromEveryDonor: transfer.fromEveryDonor ?? false,
      notAsked: (from, type, why) => this.#receiver.notAsked(from, type, why),
    })
    this.fetcher = new SessionFetch({
      channel: options.channel,
      contextPath: this.contextPath,
      logger: this.logger,
      sent: this.counts.sent,
      copyOf: (id) => this.store.get(id),
      gaveUp: (key) => this.waiters.giveUp(key),
    })
    this.pusher = new CopyPusher({
      channel: options.channel,
      contextPath: this.contextPath,
      sent: this.counts.sent,
      data: (key) => this.store.get(key)?.toData(),
      maxCount: options.sendAllSessionsSize,
      accepts: (to) => this.acceptsPush(to),
    })
    this.#antiEntropy = new AntiEntropy({
      channel: options.channel,
      contextPath: this.contextPath,
      logger: this.logger,
      interval: options.antiEntropyInterval ?? ANTI_ENTROPY_MS,
      due: () => !this.transfer.transferring && this.antiEntropySettled(),
      sent: this.counts.sent,
      self: () => this.writer,
      view: () => this.membersView(),
      ownersOf: (view, key) => this.holdersOf(view, key),
      ready: () => this.#ready,
      held: () => this.store.entries(),
      isGone: (key) => this.replicaLog.isGone(key),
      member: (id) => this.memberById(id),
      push: (to, keys) => this.pusher.push(to, keys),
    })
    this.#sender = new ReplicationSender({
      channel: options.channel,
      contextPath: this.contextPath,
      sendOptions: options.sendOptions,
      logger: this.logger,
      sent: this.counts.sent,
      targets: (m) => this.targets(m),
      failed: (m, err) => this.replicationFailed(m, err),
      // With recordAllActions every action is replicated: merged, their sum would have no bound.
      coalescing: options.policy.recordAllActions ? undefined : { maxVersions: limits.maxVersionStep },
    })
    const notify = options.notifyListenersOnReplication
    this.#receiver = new ReplicaReceiver({
      logger: this.logger,
      store: this.store,
      replicaLog: this.replicaLog,
      transfer: this.transfer,
      fetcher: this.fetcher,
      antiEntropy: this.#antiEntropy,
      waiters: this.waiters,
      received: this.counts.received,
      limits,
      install: (d, from, kind, bytes) => this.installCopy(d, from, kind, bytes),
      restore: (d) => this.restore(d),
      add: (s) => this.add(s),
      expire: (s) => this.expire(s, 'replication', 'expired'),
      leaving: (from) => this.memberLeaving(from),
      created: notify ? (s) => this.emit('sessionCreated', s, 'replication') : undefined,
      attributeChanged: notify
        ? (s, name) => this.emit('attributeChanged', s, name, 'replication')
        : undefined,
    })
    this.#writes = new LocalWrites({
      contextPath: this.contextPath,
      store: this.store,
      waiters: this.waiters,
      self: () => this.writer,
      replicate: (m) => this.replicate(m),
    })
  }

  override get ready(): boolean {
    return this.#ready
  }

  override get readYourWrites(): boolean {
    return this.ro.readYourWrites !== false
  }

  override async start(): Promise<void> {
    // The channel is started first (its local member exists from then on).
    this.writer = internWriter(writerOf(this.ro.channel.localMember))
    await super.start()
    this.replicaLog.start()
    await this.transfer.fetch()
    if (this.transfer.stopped || !this.transferAccepted()) return
    this.replicaLog.settle()
    this.#ready = true
    this.transfer.watchRejoins()
    this.logger.info({ sessions: this.store.size, ms: this.transfer.counters.transferMs }, 'sessions ready')
    this.#antiEntropy.start()
  }

  /**
   * Whether the state transfer that just ended lets this member become ready: a subclass refuses one
   * that ended incomplete (the BackupManager under terminateOnStartFailure), and the start then ends
   * without ready, for the subclass to fail it.
   */
  protected transferAccepted(): boolean {
    return true
  }

  override async stop(): Promise<void> {
    await this.#antiEntropy.stop()
    if (this.ro.expireSessionsOnShutdown)
      for (const s of [...this.store.values()]) this.expire(s, 'local', 'shutdown')
    this.transfer.stop()
    this.waiters.clear()
    this.fetcher.stop()
    this.#sender.flush()
    this.replicaLog.stop()
    await super.stop()
  }

  override stats(): ManagerStats {
    return {
      ...super.stats(),
      antiEntropy: { ...this.#antiEntropy.counters },
      sendFailures: this.#sender.failures,
      ...this.replicaLog.counters,
      ...this.transfer.counters,
      held: this.replicaLog.held,
      refused: { ...this.#receiver.refused },
      readYourWrites: { ...this.ryw, waiting: this.waiters.size },
      sessionFetch: { ...this.fetcher.counters },
      stateTransfer: this.transfer.status(),
    }
  }

  messageCounts(): { readonly sent: MessageCounts; readonly received: MessageCounts } {
    return this.counts
  }

  /**
   * Called by the cluster for every session message of this context. A change is also relayed to the
   * members this one is giving its state to (state-transfer.ts says why); the sender's synchronous
   * ACK waits for that.
   */
  receive(m: ManagerMessage, from: Member, sendOptions = 0): Promise<void> | undefined {
    if (m.type === 'backup') return this.#receiver.receiveBackup(m, from)
    return this.#receiver.receive(m, from) && this.relaysToJoiners
      ? this.transfer.relay(m, from, sendOptions)
      : undefined
  }

  // --- what a subclass decides ----------------------------------------------------------------

  /** The members a message about a session goes to (all by default). */
  protected targets(_message: SessionMessage): Member[] {
    return this.ro.channel.members()
  }

  /** The sessions a joining member `to` gets (all by default); `scope`: the donors it asks. */
  protected stateIds(_to: Member, _scope?: TransferScope): string[] {
    return [...this.store.keys()]
  }

  /** A donor relays the changes it receives to the joiners it gives its state to (donor-relay.ts). */
  protected get relaysToJoiners(): boolean {
    return true
  }

  /** Whether this member announces that `session` expired (idle) here (the others expire it too). */
  protected announcesExpiry(session: Session): boolean {
    return session.primary
  }

  /**
   * Read-your-writes on a copy older than the client saw: the members to ask for the copy at once,
   * or undefined to wait for the change in flight first (the default: every change comes here).
   */
  protected askAtOnce(_id: string): Member[] | undefined {
    return undefined
  }

  /** Who holds copies of session `key` under `view` (every member by default). */
  protected holdersOf(view: PlacementView, _key: string): readonly string[] {
    return view.members
  }

  /** The members that hold sessions (writer ids), this one among them: the channel's view by default. */
  protected membersView(): PlacementView {
    const version = this.ro.channel.viewVersion
    if (this.#membersView === undefined || this.#membersView.version !== version) {
      const ids = this.ro.channel.members().map((m) => writerOf(m))
      this.#membersView = { version, view: new PlacementView([...ids, this.writer]) }
    }
    return this.#membersView.view
  }

  /** A member of the view by writer id. */
  protected memberById(id: string): Member | undefined {
    return this.ro.channel.members().find((m) => writerOf(m) === id)
  }

  /** Is `to` one to push copies to? (A BackupManager member that announced its departure is not.) */
  protected acceptsPush(_to: Member): boolean {
    return true
  }

  /** Is the view settled enough for an anti-entropy round (beyond holding a few seconds)? */
  protected antiEntropySettled(): boolean {
    return true
  }

  /** A member announced it is stopping (the BackupManager's hand-off); ignored by default. */
  protected memberLeaving(_from: Member): void {}

  /** No more anti-entropy rounds, and the one under way is over (a stopping manager, first). */
  protected stopAntiEntropy(): Promise<void> {
    return this.#antiEntropy.stop()
  }

  /** A joining member gets the sessions stateIds() names. */
  async sendState(to: Member, request: TransferRequest): Promise<boolean> {
    this.counts.received['get-all']++
    await this.transfer.give(to, request)
    return true
  }

  /** A request ended: what it wrote is sent (local-writes.ts). */
  override requestCompleted(session: Session, replicate: boolean): Promise<void> | undefined {
    return this.#writes.requestCompleted(session, replicate)
  }

  override async changeSessionId(session: Session, newId: string): Promise<void> {
    const old = session.id
    await super.changeSessionId(session, newId)
    await this.#writes.changedId(session, old, newId)
  }

  /**
   * Read-your-writes: waits until the copy held of `id` ranks at least `want` (the change is in
   * flight), asking the member that wrote it for its copy when it has not come after
   * 2 × asyncWriteInterval (at once when that member is not in the view), for at most
   * readYourWritesTimeout; counted, and an older copy served past it is logged at debug.
   */
  override async catchUp(id: string, want: Rank): Promise<CatchUp> {
    const held = this.store.get(id)
    if (held && compareRank(held, want) >= 0) return 'current'
    if (this.replicaLog.isGone(id)) return 'gone'
    const key = keyOf(id)
    // This member wrote it and holds no such copy (the session ended here): nothing is coming.
    let end: string = 'nothing in flight'
    const askNow = this.askAtOnce(id)
    if (askNow) {
      // No change is on its way here (the BackupManager: this member does not own the session, or
      // holds no copy): ask those members for the copy now.
      if (!this.fetcher.request(id, want, undefined, askNow)) end = 'no member to ask'
      else
        end = await this.waiters.wait(key, want, {
          timeoutMs: this.ro.readYourWritesTimeout ?? 1000,
          slowMs: Number.POSITIVE_INFINITY,
          slow: () => {},
        })
    } else if (want.writer !== this.writer) {
      const writerHere = this.ro.channel.members().some((m) => writerOf(m) === want.writer)
      // A writer that left has nothing in flight any more: ask the others for the copy at once.
      if (!writerHere && !this.fetcher.request(id, want)) end = 'no member to ask'
      else
        end = await this.waiters.wait(key, want, {
          timeoutMs: this.ro.readYourWritesTimeout ?? 1000,
          slowMs: writerHere
            ? Math.max(10, 2 * this.ro.channel.asyncWriteInterval)
            : Number.POSITIVE_INFINITY,
          slow: () => {
            if (!this.fetcher.request(id, want)) this.waiters.giveUp(key)
          },
        })
    }
    if (end === 'caught-up') {
      this.ryw.caughtUp++
      return 'caught-up'
    }
    if (this.replicaLog.isGone(id)) return 'gone'
    this.ryw.staleReads++
    const now = this.store.get(id)
    this.logger.debug(
      { id, want, have: now ? { version: now.version, writer: now.writer } : undefined, end },
      'read-your-writes: serving an older copy than the client saw',
    )
    return 'stale'
  }

  protected override onCreated(session: Session): void {
    session.lastReplicated = Date.now()
    void this.replicate({
      k: SESSION_MESSAGE,
      type: 'created',
      ctx: this.contextPath,
      session: session.toData(),
    })
  }

  protected override onExpired(session: Session, reason: string): void {
    this.replicaLog.tombstone(session.id)
    this.waiters.giveUp(keyOf(session.id))
    // Every member expires idle sessions by itself; only the one that served it last says so, to
    // spare the cluster n copies of the same message. An invalidation is always announced.
    if (reason === 'expired' && !this.announcesExpiry(session)) return
    void this.replicate({ k: SESSION_MESSAGE, type: 'expired', ctx: this.contextPath, id: session.id })
  }

  /**
   * Sends a session message to its targets (replication-sender.ts). Resolves true when every target
   * got it as the send options ask (false: a send failed, counted and logged, never thrown at the
   * request that caused it); SENT, the shared resolved promise, when there was nothing to wait for.
   */
  protected replicate(message: SessionMessage): Promise<boolean> {
    return this.#sender.replicate(message)
  }

  /** A message did not reach some of its targets (`err`: a ChannelSendError names them). */
  protected replicationFailed(_message: SessionMessage, _err: unknown): void {}

  /**
   * Installs a full copy when the log admits it and it passes the checks (replica-receiver.ts); false
   * when refused. Every copy another member sends comes through here (the BackupManager notes which
   * ones it holds as a proxy).
   */
  protected installCopy(
    d: SessionData,
    from: Member | undefined,
    kind: CopyKind,
    encodedBytes?: number,
  ): boolean {
    return this.#receiver.installCopy(d, from, kind, encodedBytes)
  }
}
