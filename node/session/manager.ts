/**
 * The manager interface every session manager implements (Standard, Delta, Backup), and the base
 * they share: the local store, creation limits, expiry, listeners.
 *
 * Listener events (as Tomcat's session and attribute listeners): 'sessionCreated' (session, origin),
 * 'sessionDestroyed' (session, origin, reason), 'attributeChanged' (session, name, origin); origin is
 * 'local' or 'replication' (fired for replicated changes only with notifyListenersOnReplication).
 */
import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import { CatteryError } from '../tribes/errors.ts'
import { sessionCodes } from './errors.ts'
import type { Rank } from './rank.ts'
import { newSessionIdBase, Session, type SessionData, type SessionPolicy } from './session.ts'
import type { TransferStatus } from './state-transfer.ts'
import { SessionStore } from './store.ts'

export type ManagerKind = 'standard' | 'delta' | 'backup'

/**
 * How a read-your-writes wait ended: the copy held already ranked as high ('current'), the change
 * or a fetched copy arrived ('caught-up'), the request is served with an older copy ('stale': the
 * bound passed, no member holds that state, or no room to wait), or the session is gone here.
 */
export type CatchUp = 'current' | 'caught-up' | 'stale' | 'gone'

export interface ManagerStats {
  active: number
  created: number
  expired: number
  rejected: number
  maxActive: number
  /** A replicating manager's: replication sends that failed. */
  sendFailures?: number
  /** Replicated changes and copies dropped because this member already had them. */
  droppedDuplicates?: number
  /** Held changes dropped (their session never came, or too many were held). */
  heldDropped?: number
  /** Time the last state transfer took, and the sessions it brought. */
  transferMs?: number
  transferredSessions?: number
  /** Sessions this member left out of transfers it gave (they cannot be encoded). */
  transferSkipped?: number
  /** Transferred sessions this member refused (cannot be decoded or installed). */
  transferRefused?: number
  /** Re-syncs from a member that came back or whose changes were held too long. */
  resyncs?: number
  /** This member's own state transfer: what it waits for and why. */
  stateTransfer?: TransferStatus
  /** Changes waiting for an earlier change (replication lag). */
  held?: number
  /** Replicated copies and changes refused by replicated-checks.ts, by reason. */
  refused?: Partial<Record<string, number>>
  /** Changes from a conflicting branch that ranked higher: the copy was fetched (rank.ts). */
  conflicts?: number
  /**
   * Read-your-writes: requests that waited and then saw their write (`caughtUp`), requests served
   * an older copy than their version cookie names (`staleReads`), requests waiting now (`waiting`).
   */
  readYourWrites?: { caughtUp: number; staleReads: number; waiting: number }
  /** BackupManager: backups per session (k), and the copies held here by role in the current view. */
  backups?: number
  primary?: number
  backup?: number
  proxy?: number
  /** BackupManager: fetches on a miss, repair passes, copies pushed, dropped and handed over. */
  placement?: Record<string, number>
  /** Replicated managers: anti-entropy rounds, digests that differed or were ignored, copies and ends repaired. */
  antiEntropy?: Record<string, number>
  /** Session copies asked of other members, requests not sent (bound), answers not sent (bound). */
  sessionFetch?: {
    requestsSent: number
    requestsRefused: number
    answersDropped: number
    copiesUnasked: number
  }
}

export interface SessionManager extends EventEmitter {
  readonly kind: ManagerKind
  readonly contextPath: string
  /** Other members hold its sessions too, so a request may be served by any member (fail-over). */
  readonly distributable: boolean
  /** Holds the cluster's sessions (state transfer done); a node serves only when all are ready. */
  readonly ready: boolean
  start(): Promise<void>
  stop(): Promise<void>
  createSession(): Session
  findSession(id: string): Promise<Session | undefined>
  /** Reads a session without touching it (admin API). */
  peekSession(id: string): Session | undefined
  /**
   * The request that used `session` ended (ReplicationValve): replicate what it changed. A promise
   * when there is something to wait for (a synchronous send); undefined when it is done already.
   */
  requestCompleted(session: Session, replicate: boolean): Promise<void> | undefined
  changeSessionId(session: Session, newId: string): Promise<void>
  invalidate(session: Session): Promise<void>
  /**
   * Read-your-writes is on (manager.readYourWrites, a replicated manager): the session plugin sends
   * the version cookie and waits with catchUp (node/server/read-your-writes.ts).
   */
  readonly readYourWrites: boolean
  /**
   * Waits, within manager.readYourWritesTimeout, until the copy held of session `id` ranks at least
   * `want` (the state the client last saw, rank.ts); says how it ended.
   */
  catchUp(id: string, want: Rank): Promise<CatchUp>
  sessionCount(): number
  /** The sessions this member holds now (the express-session store's all and clear). */
  sessions(): IterableIterator<Session>
  stats(): ManagerStats
}

export interface ManagerOptions {
  contextPath: string
  jvmRoute: string
  /** Default max inactive interval of new sessions, seconds (Tomcat's session-timeout: 30 min). */
  sessionTimeout: number
  /** -1: unlimited. */
  maxActiveSessions: number
  /** Expiry runs every processExpiresFrequency × backgroundProcessorDelay seconds (Tomcat: 6 × 10). */
  processExpiresFrequency: number
  backgroundProcessorDelay: number
  policy: SessionPolicy
  logger: Logger
}

export abstract class BaseManager extends EventEmitter implements SessionManager {
  abstract readonly kind: ManagerKind
  abstract readonly distributable: boolean
  readonly options: ManagerOptions
  protected readonly store = new SessionStore()
  protected readonly logger: Logger
  protected readonly counters = { created: 0, expired: 0, rejected: 0, maxActive: 0 }
  /** The id this member's versions carry (rank.ts): a replicated manager sets its member id. */
  protected writer = ''
  #timer: NodeJS.Timeout | undefined

  constructor(options: ManagerOptions) {
    super()
    this.options = options
    this.logger = options.logger.child({ context: options.contextPath })
  }

  get contextPath(): string {
    return this.options.contextPath
  }

  get ready(): boolean {
    return true
  }

  get readYourWrites(): boolean {
    return false
  }

  async catchUp(_id: string, _want: Rank): Promise<CatchUp> {
    return 'current'
  }

  async start(): Promise<void> {
    const every =
      Math.max(0.05, this.options.processExpiresFrequency * this.options.backgroundProcessorDelay) * 1000
    this.#timer = setInterval(() => this.expireIdle(), every)
    this.#timer.unref()
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer)
  }

  createSession(): Session {
    const max = this.options.maxActiveSessions
    if (max >= 0 && this.store.size >= max) {
      this.counters.rejected++
      throw new CatteryError(
        sessionCodes.TOO_MANY_SESSIONS,
        `context ${this.contextPath} already holds ${this.store.size} sessions (maxActiveSessions ${max})`,
      )
    }
    const session = new Session({
      id: `${this.newIdBase()}.${this.options.jvmRoute}`,
      maxInactiveInterval: this.options.sessionTimeout,
      policy: this.options.policy,
    })
    session.writer = this.writer
    session.primary = true
    this.add(session)
    this.counters.created++
    this.emit('sessionCreated', session, 'local')
    this.onCreated(session)
    return session
  }

  async findSession(id: string): Promise<Session | undefined> {
    const s = this.store.get(id)
    if (s?.isExpired(Date.now())) {
      this.expire(s, 'local', 'expired')
      return undefined
    }
    return s
  }

  peekSession(id: string): Session | undefined {
    return this.store.get(id)
  }

  requestCompleted(session: Session, _replicate: boolean): Promise<void> | undefined {
    session.delta.drain()
    return undefined
  }

  async changeSessionId(session: Session, newId: string): Promise<void> {
    this.store.delete(session.id)
    session.id = newId
    this.store.set(newId, session)
  }

  async invalidate(session: Session): Promise<void> {
    if (!session.valid) return
    this.expire(session, 'local', 'invalidated')
  }

  sessionCount(): number {
    return this.store.size
  }

  sessions(): IterableIterator<Session> {
    return this.store.values()
  }

  stats(): ManagerStats {
    return { active: this.store.size, ...this.counters }
  }

  /** The id of a new session, without its route (the BackupManager picks one this member owns). */
  protected newIdBase(): string {
    return newSessionIdBase()
  }

  /** A session created here: a replicating manager announces it. */
  protected onCreated(_session: Session): void {}
  /** A session expired or invalidated here: a replicating manager announces it. */
  protected onExpired(_session: Session, _reason: string): void {}

  protected add(session: Session): void {
    this.store.set(session.id, session)
    if (this.store.size > this.counters.maxActive) this.counters.maxActive = this.store.size
  }

  protected restore(data: SessionData): Session {
    const s = new Session({
      id: data.id,
      maxInactiveInterval: data.maxInactiveInterval,
      policy: this.options.policy,
      data,
    })
    this.add(s)
    return s
  }

  /** Removes a session; announces it when it was expired or invalidated here. */
  protected expire(session: Session, origin: 'local' | 'replication', reason: string): void {
    if (!this.store.delete(session.id)) return
    session.valid = false
    this.counters.expired++
    this.emit('sessionDestroyed', session, origin, reason)
    if (origin === 'local') this.onExpired(session, reason)
  }

  protected expireIdle(): void {
    const now = Date.now()
    for (const s of this.store.values()) if (s.isExpired(now)) this.expire(s, 'local', 'expired')
  }
}
