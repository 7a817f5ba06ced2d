/**
 * Replicated data obeys the limits local writes obey (limits.ts), and sane versions. A member checks
 * every copy (`created`, pushed `backup`, state-transfer pages) and change (`delta`, `change-id`,
 * `accessed`) it receives before applying it; one that fails is refused: the session held here stays
 * exactly as it was, the refusal is counted by reason and logged with its sender (Refusals).
 *
 * Checks are pure functions of the message, the copy held now and the limits: `checkCopy`,
 * `checkChange`, `checkAccessed` return a Refusal or what applying needs (the session's new encoded
 * size), and throw nothing.
 *
 * Versions (see docs/sessions.md): a session is created at version 1 and each change adds 1, so
 * - a `created` carries version 1 (CREATED_VERSION): it never replaces a copy held here;
 * - a writer (rank.ts) is a member id: hex, at most 64 digits;
 * - a change may be ahead of the copy held here by at most maxVersionStep (changes in flight or held
 *   while another is late; the default, 1,000, is far beyond that), and so may a pushed copy
 *   (`backup`: anti-entropy, the BackupManager's repair; past it the manager asks for the copy);
 *   a copy this member asked for (state transfer, session-copy) by any distance (a re-sync after a
 *   long gap must not be refused), as may a pushed copy of a session not held here (a new backup);
 * - every version is a safe integer of at least 1.
 * Times: `accessed`, a delta's access time and a copy's times may be ahead of this node's clock by
 * at most maxClockSkewMs.
 */
import type { Logger } from 'pino'
import type { CatteryError } from '../tribes/errors.ts'
import { describeMember, type Member } from '../tribes/member.ts'
import { sessionCodes } from './errors.ts'
import {
  attributeSize,
  checkAttributeCount,
  checkAttributeName,
  checkInactiveInterval,
  checkSessionSize,
  type SessionLimits,
} from './limits.ts'
import { isWriter } from './rank.ts'
import type { Change } from './replica-log.ts'
import { assertReplicable } from './replicable.ts'
import type { Session, SessionData } from './session.ts'
import { keyOf } from './store.ts'

/** The version a session is created with; a replicated `created` must carry it. */
export const CREATED_VERSION = 1

export interface ReplicaLimits extends SessionLimits {
  /** Versions a change or copy may be ahead of the copy held (manager.maxVersionStep). */
  maxVersionStep: number
  /** How far in the future a replicated time may be, ms (manager.maxClockSkew). */
  maxClockSkewMs: number
  /** Sessions a context may hold; -1: unlimited (manager.maxActiveSessions). */
  maxActiveSessions: number
}

export const DEFAULT_REPLICATION = { maxVersionStep: 1000, maxClockSkewMs: 10_000 } as const

export type RefusalReason =
  | 'malformed'
  | 'attribute-name'
  | 'not-replicable'
  | 'too-deep'
  | 'attribute-too-large'
  | 'too-many-attributes'
  | 'session-too-large'
  | 'too-many-sessions'
  | 'inactive-interval'
  | 'future-time'
  | 'version'
  | 'id-in-use'
  /** A state-transfer page from another member than the donor the transfer asked. */
  | 'not-asked'

export interface Refusal {
  refused: RefusalReason
  code: string
  message: string
}

/** `size`: the encoded size of the attributes, or UNKNOWN_SIZE when it was not measured. */
export type Checked = Refusal | { refused?: undefined; size: number }

/** A size not measured: the session computes it when first needed (Session.knownSize). */
export const UNKNOWN_SIZE = -1

const REASON_OF: Record<string, RefusalReason> = {
  [sessionCodes.BAD_ATTRIBUTE_NAME]: 'attribute-name',
  [sessionCodes.NOT_REPLICABLE]: 'not-replicable',
  [sessionCodes.VALUE_TOO_DEEP]: 'too-deep',
  [sessionCodes.ATTRIBUTE_TOO_LARGE]: 'attribute-too-large',
  [sessionCodes.TOO_MANY_ATTRIBUTES]: 'too-many-attributes',
  [sessionCodes.SESSION_TOO_LARGE]: 'session-too-large',
  [sessionCodes.TOO_MANY_SESSIONS]: 'too-many-sessions',
  [sessionCodes.BAD_INACTIVE_INTERVAL]: 'inactive-interval',
}

const refuse = (
  refused: RefusalReason,
  message: string,
  code: string = sessionCodes.REPLICATION_REFUSED,
) => ({
  refused,
  code,
  message,
})

/** Runs the shared limit checks; a limit's coded error becomes a refusal with the same code. */
function limited(fn: () => number): Checked {
  try {
    return { size: fn() }
  } catch (err) {
    const code = (err as CatteryError).code
    const reason = REASON_OF[code]
    if (!reason) return refuse('malformed', (err as Error).message)
    return refuse(reason, (err as Error).message, code)
  }
}

/** Session ids: what newSessionIdBase() and a jvmRoute make, with room to spare. */
const ID = /^[A-Za-z0-9._-]{1,256}$/
const isTime = (t: unknown): t is number => typeof t === 'number' && Number.isFinite(t) && t >= 0
const isOptionalString = (s: unknown) => s === undefined || s === null || typeof s === 'string'

/** A version: a safe integer of at least 1, at most maxVersionStep ahead of the one held (if any). */
export function versionRefusal(
  v: unknown,
  held: number | undefined,
  limits: ReplicaLimits,
): Refusal | undefined {
  if (!Number.isSafeInteger(v) || (v as number) < 1)
    return refuse('version', `version ${String(v)} is not an integer of at least 1`)
  if (held !== undefined && (v as number) - held > limits.maxVersionStep)
    return refuse(
      'version',
      `version ${v} is ${(v as number) - held} ahead of the copy held (${held}); at most ${limits.maxVersionStep} (manager.maxVersionStep)`,
    )
  return undefined
}

function futureRefusal(what: string, t: number, now: number, limits: ReplicaLimits): Refusal | undefined {
  if (t - now <= limits.maxClockSkewMs) return undefined
  return refuse(
    'future-time',
    `${what} is ${t - now} ms ahead of this node's clock; at most ${limits.maxClockSkewMs} (manager.maxClockSkew)`,
  )
}

/**
 * A full copy of a session: `created` (from its creator), a state-transfer page, a copy this member
 * asked for (session-copy), or one another member pushed (backup). `held` is the copy held now under
 * its id, `sessions` how many this context holds.
 */
export function checkCopy(
  d: unknown,
  o: {
    kind: 'created' | 'all-data' | 'session-copy' | 'backup'
    held: Session | undefined
    sessions: number
    now: number
    limits: ReplicaLimits
    /** The copy's encoded length, when it came encoded on its own (a state-transfer page). */
    encodedBytes?: number | undefined
  },
): Checked {
  const { limits } = o
  if (typeof d !== 'object' || d === null) return refuse('malformed', 'a session copy is not an object')
  const c = d as Partial<Record<keyof SessionData, unknown>>
  if (typeof c.id !== 'string' || !ID.test(c.id))
    return refuse('malformed', `session id ${JSON.stringify(c.id)?.slice(0, 80)} is not an id`)
  if (!isTime(c.creationTime) || !isTime(c.lastAccessedTime))
    return refuse('malformed', 'creationTime and lastAccessedTime must be times (ms)')
  if (!isOptionalString(c.principal) || !isOptionalString(c.authType))
    return refuse('malformed', 'principal and authType must be strings')
  if (c.writer !== undefined && !isWriter(c.writer))
    return refuse('malformed', 'the writer must be a member id (hex, at most 64 digits)')
  const attributes = c.attributes ?? []
  if (!Array.isArray(attributes) || !attributes.every((a) => Array.isArray(a) && a.length === 2))
    return refuse('malformed', 'attributes must be a list of [name, value] pairs')
  const version = c.version ?? CREATED_VERSION
  if (o.kind === 'created' && version !== CREATED_VERSION)
    return refuse('version', `a created session has version ${CREATED_VERSION}, not ${String(version)}`)
  // A state-transfer copy or a session-copy was asked for (a join, a re-sync after a gap of any
  // length, a fetch): it may be any distance ahead of the copy held. What came unasked (a created, a
  // pushed backup) is bound by maxVersionStep past the copy held, as an unasked change is.
  const unasked = o.kind === 'created' || o.kind === 'backup'
  const v = versionRefusal(version, unasked ? o.held?.version : undefined, limits)
  if (v) return v
  const future =
    futureRefusal('creationTime', c.creationTime, o.now, limits) ??
    futureRefusal('lastAccessedTime', c.lastAccessedTime, o.now, limits)
  if (future) return future
  if (!o.held && limits.maxActiveSessions >= 0 && o.sessions >= limits.maxActiveSessions)
    return refuse(
      'too-many-sessions',
      `this context already holds ${o.sessions} sessions (manager.maxActiveSessions ${limits.maxActiveSessions})`,
      sessionCodes.TOO_MANY_SESSIONS,
    )
  // A copy whose whole encoding is within both size limits holds no attribute over either: its values
  // are checked for what they hold, not encoded again to be measured (a joiner's largest cost per
  // session after decoding), and its size is computed when first needed (Session.size).
  const small =
    o.encodedBytes !== undefined && o.encodedBytes <= Math.min(limits.maxAttributeSize, limits.maxSessionSize)
  return limited(() => {
    checkInactiveInterval(c.maxInactiveInterval, limits)
    checkAttributeCount(attributes.length, limits)
    if (small) {
      for (const [name, value] of attributes as Array<[unknown, unknown]>) {
        checkAttributeName(name)
        assertReplicable(value, name, limits.maxValueDepth)
      }
      return UNKNOWN_SIZE
    }
    let total = 0
    for (const [name, value] of attributes as Array<[unknown, unknown]>) {
      checkAttributeName(name)
      total += attributeSize(name, value, limits)
    }
    checkSessionSize(total, limits)
    return total
  })
}

/**
 * A change (delta or change-id) the replica log decided to apply to `s`, the copy held; `find`
 * looks up another copy by id (a change of id may not take over another session).
 */
export function checkChange(
  m: Change,
  s: Session,
  o: { now: number; limits: ReplicaLimits; find: (id: string) => Session | undefined },
): Checked {
  const { limits } = o
  const v = versionRefusal(m.v, s.version, limits)
  if (v) return v
  if (m.type === 'change-id') {
    if (typeof m.newId !== 'string' || !ID.test(m.newId))
      return refuse('malformed', 'the new id is not an id')
    const other = o.find(m.newId)
    if (other && other !== s && keyOf(m.newId) !== keyOf(m.id))
      return refuse('id-in-use', `the new id ${m.newId} names another session held here`)
    return { size: s.size }
  }
  if (!isTime(m.a)) return refuse('malformed', 'a delta needs its access time')
  const future = futureRefusal('the access time', m.a, o.now, limits)
  if (future) return future
  if (!Array.isArray(m.actions)) return refuse('malformed', 'a delta needs a list of actions')
  return limited(() => {
    /** Encoded size of each attribute the delta sets (-1: removes), in the order of its actions. */
    const after = new Map<string, number>()
    for (const a of m.actions as unknown[]) {
      if (!Array.isArray(a)) throw new Error('an action is not a list')
      const [op, x, y] = a as [unknown, unknown, unknown]
      if (op === 'set') {
        checkAttributeName(x)
        after.set(x, attributeSize(x, y, limits))
      } else if (op === 'remove') {
        checkAttributeName(x)
        after.set(x, -1)
      } else if (op === 'maxInactive') checkInactiveInterval(x, limits)
      else if (op === 'principal') {
        if (!isOptionalString(x) || !isOptionalString(y))
          throw new Error('principal and authType must be strings')
      } else throw new Error(`unknown action ${String(op).slice(0, 40)}`)
    }
    let total = s.size
    let count = s.attributeCount
    for (const [name, size] of after) {
      if (s.holds(name)) {
        total -= s.sizeOf(name)
        count--
      }
      if (size >= 0) {
        total += size
        count++
      }
    }
    checkAttributeCount(count, limits)
    checkSessionSize(total, limits)
    return total
  })
}

/** An `accessed` note: its time is a time, and not in the future. */
export function checkAccessed(a: unknown, now: number, limits: ReplicaLimits): Refusal | undefined {
  if (!isTime(a)) return refuse('malformed', 'an accessed message needs its access time')
  return futureRefusal('the access time', a, now, limits)
}

/**
 * Refusals of one manager: counted by reason (stats, /metrics), logged with the sender and the
 * session — at most LOG_PER_SECOND lines a second, so a hostile peer cannot flood the log (the
 * counters still count every one; the next line says how many were not logged).
 */
const LOG_PER_SECOND = 20

export class Refusals {
  readonly counts: Partial<Record<RefusalReason, number>> = {}
  readonly #logger: Logger
  #second = 0
  #logged = 0
  #unlogged = 0

  constructor(logger: Logger) {
    this.#logger = logger
  }

  record(r: Refusal, from: Member | undefined, type: string, id: unknown): void {
    this.counts[r.refused] = (this.counts[r.refused] ?? 0) + 1
    const second = Math.floor(Date.now() / 1000)
    if (second !== this.#second) {
      this.#second = second
      this.#logged = 0
    }
    if (this.#logged >= LOG_PER_SECOND) {
      this.#unlogged++
      return
    }
    this.#logged++
    this.#logger.warn(
      {
        event: 'replication-refused',
        code: r.code,
        reason: r.refused,
        type,
        id: typeof id === 'string' ? id.slice(0, 256) : undefined,
        from: from ? describeMember(from) : undefined,
        notLogged: this.#unlogged || undefined,
        err: r.message,
      },
      'refused a replicated change',
    )
    this.#unlogged = 0
  }
}
