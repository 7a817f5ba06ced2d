/**
 * What this member's requests write, as session messages (Tomcat's DeltaManager.requestCompleted):
 * at the end of a request that changed its session, the changes make the session's next version,
 * ranked as this member's (rank.ts), and leave as a `delta`; a request that only read sends now and
 * then an `accessed` note, so the session does not expire elsewhere; a change of id leaves as
 * `change-id`. The manager's replicate sends them (replication-sender.ts); a new session's message
 * and an end's are the manager's own (onCreated, onExpired).
 */
import { applyActions, type DeltaAction } from './delta-request.ts'
import { SESSION_MESSAGE, type SessionMessage } from './messages.ts'
import { SENT } from './replication-sender.ts'
import type { Session } from './session.ts'
import type { SessionStore } from './store.ts'
import type { VersionWaiters } from './version-waiters.ts'

export interface LocalWritesOptions {
  contextPath: string
  /** The manager's sessions. */
  store: SessionStore
  /** Read-your-writes: the requests waiting for a newer copy. */
  waiters: VersionWaiters
  /** This member's writer id (rank.ts; known once the channel started). */
  self(): string
  /**
   * Sends a session message to its targets: the manager's replicate (a subclass extends it). Resolves
   * true when every target got it as the send options ask; SENT when there was nothing to wait for.
   */
  replicate(message: SessionMessage): Promise<boolean>
}

export class LocalWrites {
  readonly #o: LocalWritesOptions

  constructor(o: LocalWritesOptions) {
    this.#o = o
  }

  /** A request on `session` ended: its changes are sent (`replicate`: the request is replicated). */
  requestCompleted(session: Session, replicate: boolean): Promise<void> | undefined {
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
      const sent = this.#o.replicate({
        k: SESSION_MESSAGE,
        type: 'delta',
        ctx: this.#o.contextPath,
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
    void this.#o.replicate({
      k: SESSION_MESSAGE,
      type: 'accessed',
      ctx: this.#o.contextPath,
      id: session.id,
      a: session.lastAccessedTime,
    })
    return undefined
  }

  /** `session`, held under `old` until now, was given the id `newId` here: its next version says so. */
  changedId(session: Session, old: string, newId: string): Promise<boolean> {
    const b = this.#advance(session)
    return this.#o.replicate({
      k: SESSION_MESSAGE,
      type: 'change-id',
      ctx: this.#o.contextPath,
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
    s.writer = this.#o.self()
    this.#o.waiters.wakeCopy(s)
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
    const held = this.#o.store.get(session.id)
    if (!held || held === session) return session
    applyActions(held, actions)
    return held
  }
}
