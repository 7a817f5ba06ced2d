/**
 * What the replicated managers share (Tomcat's ClusterManagerBase with DeltaManager's message
 * handling): a session's creation is sent at once, each request's changes at its end (as a delta),
 * expiry and invalidation as they happen, and an 'accessed' note keeps a session that is only read
 * alive elsewhere (replication-sender.ts: with every member as destination they leave in batches,
 * paced by the channel's asyncWriteInterval with asynchronous send options, at the end of each turn
 * with synchronous ones, where the requests of a turn wait for one ACK per member). What arrives is
 * applied as the replica log decides (replica-log.ts: ranks, held changes, tombstones); a joining
 * member first receives its state (state-transfer.ts) and is ready only then. Every version this member makes carries its writer id
 * (rank.ts). Read-your-writes: a request whose client saw a newer state than the copy held waits for
 * it (version-waiters.ts) and, past a short delay, fetches it (session-fetch.ts); the session
 * plugin's valve (node/server/read-your-writes.ts) asks through catchUp().
 *
 * While the view holds still, members compare digests of the sessions they share and push what the
 * other lacks (anti-entropy.ts), so a copy, change or end lost without a view change is restored.
 *
 * A subclass says where a session's messages go (`targets`: every member for the DeltaManager, the
 * session's other owners for the BackupManager), which sessions a joiner gets (`stateIds`), who
 * announces an expiry (`announcesExpiry`) and who holds a session's copies (`holdersOf`).
 */
import type { Channel } from '../tribes/channel-types.ts'
import { CatteryError } from '../tribes/errors.ts'
import { describeMember, type Member } from '../tribes/member.ts'
import { ANTI_ENTROPY_MS, AntiEntropy, type DigestMessage } from './anti-entropy.ts'
import type { ClusterManager, ManagerMessage } from './cluster-manager.ts'
import type { DeltaAction } from './delta-request.ts'
import { sessionCodes } from './errors.ts'
import { BaseManager, type CatchUp, type ManagerOptions, type ManagerStats } from './manager.ts'
import {
  type MessageCounts,
  newMessageCounts,
  SESSION_MESSAGE,
  type SessionMessage,
  type SessionMessageType,
} from './messages.ts'
import { CopyPusher } from './ownership-transfer.ts'
import { PlacementView } from './placement.ts'
import { compareRank, internWriter, isWriter, ownString, type Rank, writerOf } from './rank.ts'
import { type Change, ReplicaLog } from './replica-log.ts'
import {
  CREATED_VERSION,
  checkAccessed,
  checkChange,
  checkCopy,
  DEFAULT_REPLICATION,
  type Refusal,
  Refusals,
  type ReplicaLimits,
  versionRefusal,
} from './replicated-checks.ts'
import { ReplicationSender, SENT } from './replication-sender.ts'
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

/** The messages a replication batch carries (see replication-batch.ts). */
const BATCHABLE = new Set<SessionMessageType>(['created', 'delta', 'expired', 'accessed', 'change-id'])

/** Messages that change sessions (alone or in a batch): a member giving its state relays them. */
const RELAYED: ReadonlySet<SessionMessageType> = new Set<SessionMessageType>([...BATCHABLE, 'batch'])

export abstract class ReplicatedManager extends BaseManager implements ClusterManager {
  readonly distributable = true
  protected readonly ro: ReplicatedManagerOptions
  #ready = false
  protected readonly replicaLog: ReplicaLog<Session>
  protected readonly transfer: StateTransfer
  /** Where session messages leave (batched when they go to every member). */
  readonly #sender: ReplicationSender
  protected readonly counts = { sent: newMessageCounts(), received: newMessageCounts() }
  /** What replicated data must obey (the policy of local writes, and version and time bounds). */
  readonly #limits: ReplicaLimits
  readonly #refusals: Refusals
  /** The sender of the state-transfer page being installed (for the log of a refusal). */
  #pageFrom: Member | undefined
  /** The message being received was refused, at once or when the replica log applied it. */
  #refusedNow = false
  /** Read-your-writes: requests waiting for a newer copy, and copies asked of other members. */
  protected readonly waiters = new VersionWaiters()
  protected readonly fetcher: SessionFetch
  protected readonly ryw = { caughtUp: 0, staleReads: 0 }
  /** A session by id, for the checks of a replicated change (made once, not per change). */
  readonly #find = (id: string): Session | undefined => this.store.get(id)
  /** Full copies pushed to other members (anti-entropy; the BackupManager's repair and hand-off). */
  protected readonly pusher: CopyPusher
  readonly #antiEntropy: AntiEntropy
  /** The members view (holdersOf's view by default), for the channel's view version. */
  #membersView: { version: number | undefined; view: PlacementView } | undefined

  constructor(options: ReplicatedManagerOptions, transfer: { fromEveryDonor?: boolean } = {}) {
    super(options)
    this.ro = options
    this.#limits = {
      ...options.policy,
      ...DEFAULT_REPLICATION,
      ...options.replication,
      maxActiveSessions: options.maxActiveSessions,
    }
    this.#refusals = new Refusals(this.logger)
    this.replicaLog = new ReplicaLog<Session>({
      replicas: {
        find: (id) => this.store.get(id),
        apply: (s, change, from) => this.#apply(s, change, from),
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
        install: (d, bytes) => void this.installCopy(d, this.#pageFrom, 'all-data', bytes),
      },
      sent: this.counts.sent,
      timeoutSeconds: options.stateTransferTimeout,
      pageSize: options.sendAllSessionsSize,
      fromEveryDonor: transfer.fromEveryDonor ?? false,
      notAsked: (from, type, why) =>
        void this.#refused(
          { refused: 'not-asked', code: sessionCodes.TRANSFER_NOT_ASKED, message: why },
          from,
          type,
          undefined,
        ),
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
      coalescing: options.policy.recordAllActions ? undefined : { maxVersions: this.#limits.maxVersionStep },
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
    if (this.transfer.stopped) return
    this.replicaLog.settle()
    this.#ready = true
    this.transfer.watchRejoins()
    this.logger.info({ sessions: this.store.size, ms: this.transfer.counters.transferMs }, 'sessions ready')
    this.#antiEntropy.start()
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
      refused: { ...this.#refusals.counts },
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
    if (m.type === 'backup') {
      this.counts.received.backup++
      return this.receiveBackup(m, from)
    }
    this.#refusedNow = false
    const refused = this.#handle(m, from) || (this.#refusedNow && m.type !== 'batch')
    // What this member refused is not passed on (a joiner would refuse it too); a batch is, whole.
    return RELAYED.has(m.type) && !refused && this.relaysToJoiners
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

  /**
   * Copies pushed by another member (anti-entropy; the BackupManager's repair and hand-off):
   * answered (synchronous ACK) once each is held at its rank, or known gone.
   */
  protected receiveBackup(m: SessionMessage & { type: 'backup' }, from: Member): Promise<void> {
    if (!Array.isArray(m.sessions)) return Promise.reject(new Error('malformed backup message: no sessions'))
    const missing: string[] = []
    for (const d of m.sessions) {
      const id = (d as { id?: unknown } | null)?.id
      if (typeof id !== 'string') {
        missing.push(String(id))
        continue
      }
      this.installCopy(d, from, 'backup')
      const held = this.store.get(id)
      const rank = { version: d.version ?? 1, writer: d.writer ?? '' }
      if (this.replicaLog.isGone(id)) continue
      if (!held || compareRank(held, rank) < 0) missing.push(id)
    }
    if (missing.length === 0) return Promise.resolve()
    return Promise.reject(
      new CatteryError(
        sessionCodes.REPLICATION_REFUSED,
        `${missing.length} pushed session copies were not taken (first: ${missing[0]})`,
      ),
    )
  }

  /** A member announced it is stopping (the BackupManager's hand-off); ignored by default. */
  protected memberLeaving(_from: Member): void {}

  /** Applies (or holds) a message; true when it was refused at once (replicated-checks.ts). */
  #handle(m: ManagerMessage, from: Member): boolean {
    this.counts.received[m.type]++
    switch (m.type) {
      case 'created':
        return !this.installCopy(m.session, from, 'created')
      case 'delta':
      case 'change-id':
        if (!wellFormedChange(m)) {
          const r = { refused: 'malformed', code: sessionCodes.REPLICATION_REFUSED } as const
          this.#refusals.record({ ...r, message: `malformed ${m.type} message` }, from, m.type, m.id)
          return true
        }
        {
          // A jump is refused at once rather than held until the change before it is overdue.
          const held = this.store.get(m.id)
          const r = held && m.v > held.version ? versionRefusal(m.v, held.version, this.#limits) : undefined
          if (r) return this.#refused(r, from, m.type, m.id)
        }
        this.replicaLog.change(m, from)
        return false
      case 'expired': {
        this.replicaLog.gone(m.id)
        if (typeof m.id === 'string') this.waiters.giveUp(keyOf(m.id))
        const s = this.store.get(m.id)
        if (s) this.expire(s, 'replication', 'expired')
        return false
      }
      case 'accessed': {
        const s = this.store.get(m.id)
        if (!s) return false
        const r = checkAccessed(m.a, Date.now(), this.#limits)
        if (r) return this.#refused(r, from, m.type, m.id)
        if (m.a > s.lastAccessedTime) s.lastAccessedTime = m.a
        return false
      }
      case 'all-data':
        this.#pageFrom = from
        try {
          this.transfer.receivePage(m, from)
        } finally {
          this.#pageFrom = undefined
        }
        return false
      case 'all-data-chunk':
        this.#pageFrom = from
        try {
          this.transfer.receiveChunk(m, from)
        } finally {
          this.#pageFrom = undefined
        }
        return false
      case 'transfer-complete':
      case 'no-context-manager':
        this.transfer.receiveEnd(m, from)
        return false
      case 'resync-request':
        // A peer dropped this member for a while (it may not have noticed): fetch what it missed.
        this.transfer.resync(from, 'a member saw this one come back after a gap', false)
        return false
      case 'batch':
        this.#receiveBatch(m.messages, from)
        return false
      case 'session-request':
        this.fetcher.answer(m, from)
        return false
      case 'session-copy': {
        const d = this.fetcher.answered(m, from)
        return d ? !this.installCopy(d, from, 'session-copy') : false
      }
      case 'backup':
        // Received through receive() (it answers with its own ACK); never inside a batch.
        return false
      case 'leaving':
        this.memberLeaving(from)
        return false
      case 'digest':
      case 'digest-keys':
        this.#reconcile(m, from)
        return false
    }
  }

  /** No more anti-entropy rounds, and the one under way is over (a stopping manager, first). */
  protected stopAntiEntropy(): Promise<void> {
    return this.#antiEntropy.stop()
  }

  #reconcile(m: DigestMessage, from: Member): void {
    this.#antiEntropy
      .receive(m, from)
      .catch((err) =>
        this.logger.warn(
          { err: (err as Error).message, from: describeMember(from) },
          `anti-entropy: ${m.type} refused`,
        ),
      )
  }

  #refused(r: Refusal, from: Member | undefined, type: string, id: unknown): true {
    this.#refusedNow = true
    this.#refusals.record(r, from, type, id)
    return true
  }

  /** A joining member gets the sessions stateIds() names. */
  async sendState(to: Member, request: TransferRequest): Promise<boolean> {
    this.counts.received['get-all']++
    await this.transfer.give(to, request)
    return true
  }

  #receiveBatch(messages: unknown[], from: Member): void {
    if (!Array.isArray(messages)) throw new Error('malformed batch message: no list of messages')
    for (const m of messages) {
      // Only what a batch may carry: this context's asynchronous changes (k and ctx are the batch's).
      const type = typeof m === 'object' && m !== null ? (m as { type?: unknown }).type : undefined
      try {
        if (!BATCHABLE.has(type as SessionMessageType)) throw new Error(`not a batchable message: ${type}`)
        this.#handle(m as ManagerMessage, from)
      } catch (err) {
        // One bad message costs only itself: the rest of the batch is still applied.
        this.logger.warn(
          { from: describeMember(from), err: (err as Error).message },
          'ignoring a malformed message in a replication batch',
        )
      }
    }
  }

  override requestCompleted(session: Session, replicate: boolean): Promise<void> | undefined {
    if (!session.valid) return undefined
    session.primary = true
    session.noticeInPlaceChanges()
    const actions = session.delta.drain()
    if (!replicate) return undefined
    if (actions.length) {
      const s = this.#current(session, actions)
      const b = this.#advance(s)
      if (s !== session) {
        session.version = s.version
        session.writer = s.writer
      }
      const sent = this.replicate({
        k: SESSION_MESSAGE,
        type: 'delta',
        ctx: this.contextPath,
        id: s.id,
        v: s.version,
        w: s.writer,
        b,
        a: s.lastAccessedTime,
        actions,
      })
      // Batched (asynchronous): nothing to wait for, so the request does not wait a turn either.
      if (sent === SENT) {
        s.lastReplicated = Date.now()
        return undefined
      }
      return sent.then(() => {
        s.lastReplicated = Date.now()
      })
    }
    // Only read: tell the others now and then, so it does not expire there (Tomcat's accessed message).
    // The request does not wait for it, whatever the send options: it only moves an expiry time, and
    // with synchronous options a read on a member whose peer just died would otherwise wait for the
    // failure detector (a failed send is counted and logged by replicate).
    const every = Math.min(60_000, Math.max(1000, (session.maxInactiveInterval * 1000) / 4))
    const now = Date.now()
    if (now - session.lastReplicated <= every) return undefined
    session.lastReplicated = now
    void this.replicate({
      k: SESSION_MESSAGE,
      type: 'accessed',
      ctx: this.contextPath,
      id: session.id,
      a: session.lastAccessedTime,
    })
    return undefined
  }

  override async changeSessionId(session: Session, newId: string): Promise<void> {
    const old = session.id
    await super.changeSessionId(session, newId)
    const b = this.#advance(session)
    await this.replicate({
      k: SESSION_MESSAGE,
      type: 'change-id',
      ctx: this.contextPath,
      id: old,
      newId,
      v: session.version,
      w: session.writer,
      b,
    })
  }

  /** This member makes the session's next version (rank.ts); returns the writer it was based on. */
  #advance(s: Session): string {
    const base = s.writer
    s.version++
    s.writer = this.writer
    this.#wake(s)
    return base
  }

  /**
   * The copy a request's changes land on: its own session, or — when a higher-ranked copy replaced
   * that one while the request ran (session-copy, state transfer) — the copy held now, to which the
   * request's actions are applied, so its write follows what this member holds. When no copy is
   * held any more, though the session did not end (the caller checked), the request's own: a
   * BackupManager member drops its copy of a session it does not own once the owners confirmed it,
   * maybe while a request it serves uses it, and that write still goes to the owners (the response
   * acknowledges it: it must not be lost).
   */
  #current(session: Session, actions: DeltaAction[]): Session {
    const held = this.store.get(session.id)
    if (!held || held === session) return session
    this.#applyActions(held, actions, false)
    return held
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

  // --- applying what the replica log admits ---------------------------------------------------

  /**
   * Installs a full copy when the log admits it and it passes the checks; false when refused. A
   * pushed copy (`backup`) more than maxVersionStep past the copy held is refused, and the copy is
   * asked for instead, as for a gap that will not fill (from its writer, else from the pusher): an
   * answer to that request may be any distance ahead, so a real push after a long partition is not
   * lost, while a forged one is answered with nothing that new.
   */
  protected installCopy(
    d: SessionData,
    from: Member | undefined,
    kind: 'created' | 'all-data' | 'session-copy' | 'backup',
    encodedBytes?: number,
  ): boolean {
    const id: unknown = (d as Partial<SessionData> | null)?.id
    const have = typeof id === 'string' ? this.store.get(id) : undefined
    // A copy that ranks no higher than the one held is dropped before it costs a check.
    const rank = { version: d.version ?? CREATED_VERSION, writer: d.writer ?? '' }
    if (typeof id === 'string' && !this.replicaLog.admits(id, rank, have)) return true
    const checked = checkCopy(d, {
      kind,
      held: have,
      sessions: this.store.size,
      now: Date.now(),
      limits: this.#limits,
      encodedBytes,
    })
    if (checked.refused) {
      // A version the replica log admitted (it ranks above the copy held) refused: a jump.
      const jump = kind === 'backup' && have && checked.refused === 'version' && from
      const asked = jump && Number.isSafeInteger(rank.version) && this.fetcher.request(d.id, rank, from)
      this.#refused(
        asked ? { ...checked, message: `${checked.message}; the copy is asked for` } : checked,
        from,
        kind,
        id,
      )
      return false
    }
    if (have) this.store.delete(d.id)
    const s = this.restore(d)
    s.knownSize(checked.size)
    if (!have && this.ro.notifyListenersOnReplication) this.emit('sessionCreated', s, 'replication')
    this.replicaLog.installed(d.id)
    const now = this.store.get(d.id)
    if (now) this.waiters.wake(keyOf(d.id), now)
    return true
  }

  /** Applies a change the replica log admitted, once it passes the checks; false when refused. */
  #apply(s: Session, m: Change, from: Member): boolean {
    const checked = checkChange(m, s, { now: Date.now(), limits: this.#limits, find: this.#find })
    if (checked.refused) {
      this.#refused(checked, from, m.type, m.id)
      return false
    }
    s.version = m.v
    s.writer = m.w ? internWriter(m.w) : ''
    s.primary = false
    if (m.type === 'change-id') {
      this.store.delete(m.id)
      s.id = ownString(m.newId)
      this.add(s)
    } else {
      if (m.a > s.lastAccessedTime) s.lastAccessedTime = m.a
      this.#applyActions(s, m.actions, this.ro.notifyListenersOnReplication)
      s.knownSize(checked.size)
    }
    this.#wake(s)
    return true
  }

  /** Wakes the requests waiting for `s` to rank this high (no key is made when none waits). */
  #wake(s: Session): void {
    if (this.waiters.size > 0) this.waiters.wake(keyOf(s.id), s)
  }

  /** Applies a delta's actions to a copy (checked before, when they came from another member). */
  #applyActions(s: Session, actions: DeltaAction[], notify: boolean): void {
    for (const a of actions) {
      if (a[0] === 'set') s.applySet(a[1], a[2])
      else if (a[0] === 'remove') s.applyRemove(a[1])
      else if (a[0] === 'maxInactive') s.maxInactiveInterval = a[1]
      else if (a[0] === 'principal') {
        s.principal = a[1]
        s.authType = a[2]
      }
      if (notify && (a[0] === 'set' || a[0] === 'remove'))
        this.emit('attributeChanged', s, a[1], 'replication')
    }
  }
}

/** A change whose fields have the types applying it relies on (a version decides what is applied). */
function wellFormedChange(m: Change): boolean {
  if (typeof m.id !== 'string' || !Number.isSafeInteger(m.v)) return false
  if ((m.w !== undefined && !isWriter(m.w)) || (m.b !== undefined && !isWriter(m.b))) return false
  return m.type === 'delta'
    ? Array.isArray(m.actions) &&
        m.actions.every((a) => Array.isArray(a)) &&
        typeof m.a === 'number' &&
        (m.p === undefined || (Number.isSafeInteger(m.p) && m.p >= 0 && m.p < m.v))
    : typeof m.newId === 'string'
}
