/**
 * The replica log of a replicated manager: decides, by rank and not clocks, when a replicated change
 * is applied to the copy of a session this member holds. A session's state is ranked by (version,
 * writer) (rank.ts); a change carries the rank it makes (`v`, `w`) and the writer of the version it
 * was based on (`b`). A change is
 * - applied when it builds on the version held (the one before it, or `p` for deltas a batch merged)
 *   and its base writer made the copy held (it follows it);
 * - dropped when it ranks at or below the copy held (a duplicate, or the losing side of a conflict);
 * - held when the version it builds on has not arrived yet (a gap);
 * - a conflict otherwise (it ranks higher but was made on another branch: same or next version,
 *   another base): the log asks for the full copy of the session from the change's writer
 *   (`fetch`, session-fetch.ts), which ranks at least as high, and holds the change meanwhile.
 * A full copy (creation, state transfer, fetched copy) is taken only when it ranks higher than the
 * copy held. A session known to be gone leaves a tombstone, so a late change or copy does not bring it
 * back. So once the cluster is quiet every member holds the highest-ranked state (docs/sessions.md
 * gives the argument).
 *
 * Held changes wait for the change (or the copy) before them for up to holdTimeoutMs (swept every
 * 500 ms). Past it, the sender may hold what this member missed (it was cut off for a while): the log
 * asks for a re-sync from the sender (`resync`, a fresh copy of its sessions, state-transfer.ts) and
 * keeps holding while a transfer may still bring the copy; only when no re-sync can be had (none
 * possible, or one from that sender just ended) are they settled: one that follows the copy held is
 * applied, one that does not is never applied out of order — the session's copy is fetched from its
 * writer instead — and those whose session never came are dropped. Bounds: at most maxHeld changes
 * are held (more are dropped and counted) and the last maxTombstones tombstones are kept.
 *
 * The log does not touch sessions itself: the manager finds them, applies what the log decides and
 * sends the requests for copies.
 */
import type { Logger } from 'pino'
import type { Member } from '../tribes/member.ts'
import type { SessionMessage } from './messages.ts'
import { compareRank, type Rank } from './rank.ts'
import { keyOf } from './store.ts'

/** A replicated change of one session: its attributes (delta) or its id (change-id). */
export type Change = SessionMessage & { type: 'delta' | 'change-id' }

/** What the log needs of the manager that holds the copies. */
/** The rank a change makes. */
const rankOf = (c: Change): Rank => ({ version: c.v, writer: c.w ?? '' })

/**
 * The version a change builds on: the one before it, or `p` when a batch merged the deltas of several
 * versions into one (replication-batch.ts).
 */
const baseOf = (c: Change): number => (c.type === 'delta' && c.p !== undefined ? c.p : c.v - 1)

/** Does the change build on this state? (no base writer: sent by a member that predates the rule) */
const follows = (c: Change, s: Rank): boolean =>
  baseOf(c) === s.version && (c.b === undefined || c.b === s.writer)

export interface Replicas<S extends Rank> {
  /** The copy held under this id (whatever its route suffix), if any. */
  find(id: string): S | undefined
  /**
   * Applies a change the log decided is next (or overdue) to the copy; it carries the new version.
   * False: the manager refused it (replicated-checks.ts) and the copy is as it was.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: an applier that never refuses returns nothing
  apply(session: S, change: Change, from: Member): boolean | void
  /**
   * The copy of session `id` must be replaced by one ranking at least `want` (a conflicting branch,
   * or a gap that will not fill): ask the member that wrote it (`from` relayed or sent the change).
   */
  fetch(id: string, want: Rank, from: Member): void
  /** Drops the copy held under this id (a renamed session's stale copy). */
  remove(id: string): void
}

export interface ReplicaLogOptions<S extends Rank> {
  replicas: Replicas<S>
  logger: Logger
  /** True while a state transfer may still bring sessions: changes for them are not dropped yet. */
  transferring: () => boolean
  /**
   * Changes from `from` were held past the hold timeout: true when a re-sync from it is under way
   * (they are held on while it runs), false when none can be had (they are applied or dropped).
   */
  resync?: (from: Member) => boolean
  holdTimeoutMs?: number
  maxHeld?: number
  maxTombstones?: number
}

/** A change waiting for the change before it. */
interface Held {
  change: Change
  from: Member
  at: number
}

const SWEEP_INTERVAL_MS = 500
const byRank = (a: Held, b: Held) => compareRank(rankOf(a.change), rankOf(b.change))

export class ReplicaLog<S extends Rank> {
  readonly #replicas: Replicas<S>
  readonly #logger: Logger
  readonly #transferring: () => boolean
  readonly #resync: (from: Member) => boolean
  readonly #holdTimeoutMs: number
  readonly #maxHeld: number
  readonly #maxTombstones: number
  readonly #held = new Map<string, Held[]>()
  #heldCount = 0
  /** Sessions known to be gone, oldest first. */
  readonly #tombstones = new Set<string>()
  #sweep: NodeJS.Timeout | undefined
  /**
   * Changes and copies dropped because this member holds as high a rank; held changes dropped;
   * changes from a conflicting branch that ranked higher (the copy was fetched).
   */
  readonly counters = { droppedDuplicates: 0, heldDropped: 0, conflicts: 0 }

  constructor(options: ReplicaLogOptions<S>) {
    this.#replicas = options.replicas
    this.#logger = options.logger
    this.#transferring = options.transferring
    this.#resync = options.resync ?? (() => false)
    this.#holdTimeoutMs = options.holdTimeoutMs ?? 3000
    this.#maxHeld = options.maxHeld ?? 100_000
    this.#maxTombstones = options.maxTombstones ?? 100_000
  }

  /** Changes held now. */
  get held(): number {
    return this.#heldCount
  }

  start(): void {
    this.#sweep = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS)
    this.#sweep.unref()
  }

  stop(): void {
    clearInterval(this.#sweep)
  }

  /**
   * A full copy of session `id` ranking `rank` arrived, and `have` is the copy held now: true when
   * the manager should install it (it ranks higher). After installing, it calls installed().
   */
  admits(id: string, rank: Rank, have: S | undefined): boolean {
    if (this.#tombstones.has(keyOf(id))) return false
    if (have && compareRank(rank, have) <= 0) {
      this.counters.droppedDuplicates++
      return false
    }
    return true
  }

  /** A full copy was installed: the changes that waited for it are applied now. */
  installed(id: string): void {
    this.#flush(id)
  }

  /** Is the session known to be gone here? */
  isGone(id: string): boolean {
    return this.#tombstones.has(keyOf(id))
  }

  /** A replicated change arrived: applied, held, dropped, or its session's copy fetched. */
  change(change: Change, from: Member): void {
    this.#change(change, from, false)
  }

  /** The session is gone (expired or invalidated here or elsewhere): no change or copy revives it. */
  tombstone(id: string): void {
    this.#tombstones.add(keyOf(id))
    if (this.#tombstones.size > this.#maxTombstones)
      this.#tombstones.delete(this.#tombstones.values().next().value as string)
  }

  /** Another member says the session is gone: tombstone it and forget the changes held for it. */
  gone(id: string): void {
    this.tombstone(id)
    this.#drop(keyOf(id))
  }

  /** Changes held longer than the hold timeout: settled (see above), or dropped without a session. */
  sweep(): void {
    this.#sweepHeld(false)
  }

  /** A state transfer ended: every held change is settled, or dropped without a session, however young. */
  settle(): void {
    this.#sweepHeld(true)
  }

  #change(change: Change, from: Member, force: boolean): void {
    const s = this.#replicas.find(change.id)
    if (!s) {
      if (this.#tombstones.has(keyOf(change.id))) return
      if (change.type === 'change-id' && this.#replicas.find(change.newId)) return
      this.#hold(change, from)
      return
    }
    if (change.type === 'change-id' && keyOf(change.newId) !== keyOf(change.id)) {
      // The session arrived under its new id first (a copy another owner pushed on its own change
      // of id): the copy under the old id is stale, and the change would take over the new id's.
      const renamed = this.#replicas.find(change.newId)
      if (renamed && compareRank(renamed, rankOf(change)) >= 0) {
        this.#replicas.remove(change.id)
        this.#drop(keyOf(change.id))
        return
      }
    }
    if (compareRank(rankOf(change), s) <= 0) {
      this.counters.droppedDuplicates++
      return
    }
    if (!follows(change, s)) {
      if (baseOf(change) > s.version && !force) {
        this.#hold(change, from)
        return
      }
      // Another branch ranks higher (or a gap will not fill): never applied out of order; the
      // writer's copy replaces this one. Held meanwhile (a re-sync is the fallback), unless settling.
      this.counters.conflicts++
      this.#replicas.fetch(change.id, rankOf(change), from)
      if (!force) this.#hold(change, from)
      return
    }
    if (this.#replicas.apply(s, change, from) === false) return
    if (change.type === 'change-id') {
      this.#move(keyOf(change.id), keyOf(change.newId))
      this.#flush(change.newId)
    } else this.#flush(change.id)
  }

  #hold(change: Change, from: Member): void {
    if (this.#heldCount >= this.#maxHeld) {
      this.counters.heldDropped++
      this.#logger.warn(
        { id: change.id, type: change.type },
        'too many out-of-order changes held; dropping one',
      )
      return
    }
    const key = keyOf(change.id)
    const list = this.#held.get(key)
    const held = { change, from, at: Date.now() }
    if (list) list.push(held)
    else this.#held.set(key, [held])
    this.#heldCount++
  }

  #flush(id: string): void {
    // Nearly always nothing is held: no key to make per applied change.
    if (this.#heldCount === 0) return
    const key = keyOf(id)
    const list = this.#held.get(key)
    if (!list) return
    this.#held.delete(key)
    this.#heldCount -= list.length
    list.sort(byRank)
    for (const h of list) this.#change(h.change, h.from, false)
  }

  #move(from: string, to: string): void {
    if (from === to) return
    const list = this.#held.get(from)
    if (!list) return
    this.#held.delete(from)
    this.#held.set(to, [...(this.#held.get(to) ?? []), ...list])
  }

  #drop(key: string): void {
    const list = this.#held.get(key)
    if (!list) return
    this.#held.delete(key)
    this.#heldCount -= list.length
  }

  #sweepHeld(all: boolean): void {
    const limit = Date.now() - this.#holdTimeoutMs
    for (const [key, list] of this.#held) {
      if (!all && (list[0]?.at ?? 0) > limit) continue
      // A transfer (or a re-sync from the sender) may still bring the session or the missing change.
      if (!all && (this.#transferring() || this.#resync((list[0] as Held).from))) continue
      if (!this.#replicas.find(key)) {
        this.#drop(key)
        this.counters.heldDropped += list.length
        continue
      }
      this.#held.delete(key)
      this.#heldCount -= list.length
      list.sort(byRank)
      for (const h of list) this.#change(h.change, h.from, true)
    }
  }
}
