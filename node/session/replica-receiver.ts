/**
 * The receiving side of a replicated manager (Tomcat's DeltaManager.messageDataReceived): checks and
 * applies what other members send about this context's sessions. A change (delta, change of id) goes
 * to the replica log (replica-log.ts), which applies it here when it is next; a full copy (creation,
 * state-transfer page, fetched copy, pushed copy) is installed when the log admits it; an expiry, an
 * access, a batch of those, and the messages of state transfer, session fetch and anti-entropy go to
 * their modules. Everything another member sends passes the checks of replicated-checks.ts first: a
 * refusal is counted and logged (rate-limited), never applied, and what was refused is not relayed
 * to joiners. One bad message of a batch costs only itself.
 */
import type { Logger } from 'pino'
import { CatteryError } from '../tribes/errors.ts'
import { describeMember, type Member } from '../tribes/member.ts'
import type { AntiEntropy, DigestMessage } from './anti-entropy.ts'
import type { ManagerMessage } from './cluster-manager.ts'
import { applyActions } from './delta-request.ts'
import { sessionCodes } from './errors.ts'
import type { MessageCounts, SessionMessage, SessionMessageType } from './messages.ts'
import { compareRank, internWriter, isWriter, ownString } from './rank.ts'
import type { Change, ReplicaLog } from './replica-log.ts'
import {
  CREATED_VERSION,
  checkAccessed,
  checkChange,
  checkCopy,
  type Refusal,
  Refusals,
  type ReplicaLimits,
  versionRefusal,
} from './replicated-checks.ts'
import type { Session, SessionData } from './session.ts'
import type { SessionFetch } from './session-fetch.ts'
import type { StateTransfer } from './state-transfer.ts'
import { keyOf, type SessionStore } from './store.ts'
import type { VersionWaiters } from './version-waiters.ts'

/** How a full copy came: created elsewhere, a state-transfer page, a fetched copy, a pushed copy. */
export type CopyKind = 'created' | 'all-data' | 'session-copy' | 'backup'

export interface ReplicaReceiverOptions {
  logger: Logger
  /** The manager's sessions. */
  store: SessionStore
  replicaLog: ReplicaLog<Session>
  transfer: StateTransfer
  fetcher: SessionFetch
  antiEntropy: AntiEntropy
  /** Read-your-writes: the requests waiting for a newer copy. */
  waiters: VersionWaiters
  /** The manager's counts of received messages, by type. */
  received: MessageCounts
  /** What replicated data must obey (the policy of local writes, and version and time bounds). */
  limits: ReplicaLimits
  /**
   * Installs a full copy: the manager's installCopy (a subclass extends it), which comes back to
   * installCopy here.
   */
  install(d: SessionData, from: Member | undefined, kind: CopyKind, encodedBytes?: number): boolean
  /** Makes a session of a copy's data and holds it (the manager's restore). */
  restore(d: SessionData): Session
  /** Holds `s` under its id (after a change of id; the manager counts its peak). */
  add(s: Session): void
  /** Another member said `s` expired or was invalidated. */
  expire(s: Session): void
  /** A member announced it is stopping (the manager's memberLeaving). */
  leaving(from: Member): void
  /** Tells the listeners of a session created by replication (absent: notifyListenersOnReplication off). */
  created?: ((s: Session) => void) | undefined
  /** Tells the listeners of an attribute a replicated change set or removed (absent: likewise). */
  attributeChanged?: ((s: Session, name: string) => void) | undefined
}

/** The messages a replication batch carries (see replication-batch.ts). */
const BATCHABLE = new Set<SessionMessageType>(['created', 'delta', 'expired', 'accessed', 'change-id'])

/** Messages that change sessions (alone or in a batch): a member giving its state relays them. */
const RELAYED: ReadonlySet<SessionMessageType> = new Set<SessionMessageType>([...BATCHABLE, 'batch'])

export class ReplicaReceiver {
  readonly #o: ReplicaReceiverOptions
  readonly #refusals: Refusals
  /** The sender of the state-transfer page being installed (for the log of a refusal). */
  #pageFrom: Member | undefined
  /** The message being received was refused, at once or when the replica log applied it. */
  #refusedNow = false
  /** A session by id, for the checks of a replicated change (made once, not per change). */
  readonly #find = (id: string): Session | undefined => this.#o.store.get(id)

  constructor(o: ReplicaReceiverOptions) {
    this.#o = o
    this.#refusals = new Refusals(o.logger)
  }

  /** Refusals so far, by reason. */
  get refused(): Refusals['counts'] {
    return this.#refusals.counts
  }

  /**
   * Applies (or holds) a session message other than `backup`; true when it is one to relay to the
   * members this one gives its state to: a change not refused, or a batch.
   */
  receive(m: ManagerMessage, from: Member): boolean {
    this.#refusedNow = false
    const refused = this.#handle(m, from) || (this.#refusedNow && m.type !== 'batch')
    // What this member refused is not passed on (a joiner would refuse it too); a batch is, whole.
    return RELAYED.has(m.type) && !refused
  }

  /**
   * Copies pushed by another member (anti-entropy; the BackupManager's repair and hand-off):
   * answered (synchronous ACK) once each is held at its rank, or known gone.
   */
  receiveBackup(m: SessionMessage & { type: 'backup' }, from: Member): Promise<void> {
    this.#o.received.backup++
    if (!Array.isArray(m.sessions)) return Promise.reject(new Error('malformed backup message: no sessions'))
    const missing: string[] = []
    for (const d of m.sessions) {
      const id = (d as { id?: unknown } | null)?.id
      if (typeof id !== 'string') {
        missing.push(String(id))
        continue
      }
      this.#o.install(d, from, 'backup')
      const held = this.#o.store.get(id)
      const rank = { version: d.version ?? 1, writer: d.writer ?? '' }
      if (this.#o.replicaLog.isGone(id)) continue
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

  /** A session of the state-transfer page being received (StateTransfer installs them one by one). */
  installPage(d: SessionData, encodedBytes: number): void {
    void this.#o.install(d, this.#pageFrom, 'all-data', encodedBytes)
  }

  /** A state-transfer message came from a member this one did not ask (`why`): refused. */
  notAsked(from: Member, type: string, why: string): void {
    this.#refused(
      { refused: 'not-asked', code: sessionCodes.TRANSFER_NOT_ASKED, message: why },
      from,
      type,
      undefined,
    )
  }

  /** Applies (or holds) a message; true when it was refused at once (replicated-checks.ts). */
  #handle(m: ManagerMessage, from: Member): boolean {
    const o = this.#o
    o.received[m.type]++
    switch (m.type) {
      case 'created':
        return !o.install(m.session, from, 'created')
      case 'delta':
      case 'change-id':
        if (!wellFormedChange(m)) {
          const r = { refused: 'malformed', code: sessionCodes.REPLICATION_REFUSED } as const
          this.#refusals.record({ ...r, message: `malformed ${m.type} message` }, from, m.type, m.id)
          return true
        }
        {
          // A jump is refused at once rather than held until the change before it is overdue.
          const held = o.store.get(m.id)
          const r = held && m.v > held.version ? versionRefusal(m.v, held.version, o.limits) : undefined
          if (r) return this.#refused(r, from, m.type, m.id)
        }
        o.replicaLog.change(m, from)
        return false
      case 'expired': {
        o.replicaLog.gone(m.id)
        if (typeof m.id === 'string') o.waiters.giveUp(keyOf(m.id))
        const s = o.store.get(m.id)
        if (s) o.expire(s)
        return false
      }
      case 'accessed': {
        const s = o.store.get(m.id)
        if (!s) return false
        const now = Date.now()
        const r = checkAccessed(m.a, now, o.limits)
        if (r) return this.#refused(r, from, m.type, m.id)
        if (m.a > s.lastAccessedTime) s.lastAccessedTime = m.a
        // The other holders received this access time too: a read here need not send it again soon.
        s.lastReplicated = now
        return false
      }
      case 'all-data':
        this.#pageFrom = from
        try {
          o.transfer.receivePage(m, from)
        } finally {
          this.#pageFrom = undefined
        }
        return false
      case 'all-data-chunk':
        this.#pageFrom = from
        try {
          o.transfer.receiveChunk(m, from)
        } finally {
          this.#pageFrom = undefined
        }
        return false
      case 'transfer-complete':
      case 'no-context-manager':
        o.transfer.receiveEnd(m, from)
        return false
      case 'resync-request':
        // A peer dropped this member for a while (it may not have noticed): fetch what it missed.
        o.transfer.resync(from, 'a member saw this one come back after a gap', false)
        return false
      case 'batch':
        this.#receiveBatch(m.messages, from)
        return false
      case 'session-request':
        o.fetcher.answer(m, from)
        return false
      case 'session-copy': {
        const d = o.fetcher.answered(m, from)
        return d ? !o.install(d, from, 'session-copy') : false
      }
      case 'backup':
        // Received through receiveBackup() (it answers with its own ACK); never inside a batch.
        return false
      case 'leaving':
        o.leaving(from)
        return false
      case 'digest':
      case 'digest-keys':
        this.#reconcile(m, from)
        return false
    }
  }

  #reconcile(m: DigestMessage, from: Member): void {
    this.#o.antiEntropy
      .receive(m, from)
      .catch((err) =>
        this.#o.logger.warn(
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
        this.#o.logger.warn(
          { from: describeMember(from), err: (err as Error).message },
          'ignoring a malformed message in a replication batch',
        )
      }
    }
  }

  // --- applying what the replica log admits ---------------------------------------------------

  /**
   * Installs a full copy when the log admits it and it passes the checks; false when refused. A
   * pushed copy (`backup`) more than maxVersionStep past the copy held is refused, and the copy is
   * asked for instead, as for a gap that will not fill (from its writer, else from the pusher): an
   * answer to that request may be any distance ahead, so a real push after a long partition is not
   * lost, while a forged one is answered with nothing that new.
   */
  installCopy(d: SessionData, from: Member | undefined, kind: CopyKind, encodedBytes?: number): boolean {
    const o = this.#o
    const id: unknown = (d as Partial<SessionData> | null)?.id
    const have = typeof id === 'string' ? o.store.get(id) : undefined
    // A copy that ranks no higher than the one held is dropped before it costs a check.
    const rank = { version: d.version ?? CREATED_VERSION, writer: d.writer ?? '' }
    if (typeof id === 'string' && !o.replicaLog.admits(id, rank, have)) return true
    const checked = checkCopy(d, {
      kind,
      held: have,
      sessions: o.store.size,
      now: Date.now(),
      limits: o.limits,
      encodedBytes,
    })
    if (checked.refused) {
      // A version the replica log admitted (it ranks above the copy held) refused: a jump.
      const jump = kind === 'backup' && have && checked.refused === 'version' && from
      const asked = jump && Number.isSafeInteger(rank.version) && o.fetcher.request(d.id, rank, from)
      this.#refused(
        asked ? { ...checked, message: `${checked.message}; the copy is asked for` } : checked,
        from,
        kind,
        id,
      )
      return false
    }
    if (have) o.store.delete(d.id)
    const s = o.restore(d)
    s.knownSize(checked.size)
    // A creation reached every holder with its access time (see the 'accessed' case).
    if (kind === 'created') s.lastReplicated = Date.now()
    if (!have && o.created) o.created(s)
    o.replicaLog.installed(d.id)
    const now = o.store.get(d.id)
    if (now) o.waiters.wake(keyOf(d.id), now)
    return true
  }

  /**
   * Applies a change the replica log admitted (its `apply`), once it passes the checks; false when
   * refused.
   */
  apply(s: Session, m: Change, from: Member): boolean {
    const o = this.#o
    const now = Date.now()
    const checked = checkChange(m, s, { now, limits: o.limits, find: this.#find })
    if (checked.refused) {
      this.#refused(checked, from, m.type, m.id)
      return false
    }
    s.version = m.v
    s.writer = m.w ? internWriter(m.w) : ''
    s.primary = false
    if (m.type === 'change-id') {
      o.store.delete(m.id)
      s.id = ownString(m.newId)
      o.add(s)
    } else {
      if (m.a > s.lastAccessedTime) s.lastAccessedTime = m.a
      // Every holder received this change and its access time (see the 'accessed' case).
      s.lastReplicated = now
      applyActions(s, m.actions, o.attributeChanged)
      s.knownSize(checked.size)
    }
    o.waiters.wakeCopy(s)
    return true
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
