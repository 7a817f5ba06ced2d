/**
 * One HTTP session. Every change a request makes is recorded in the session's DeltaRequest, so the
 * manager can replicate exactly that at the end of the request; a replica applies the same actions.
 * `version` counts replicated changes and `writer` names the member that made the last one: together
 * they rank the session's state (rank.ts), so a replica applies only what follows what it holds and
 * every member ends on the same state (no wall clocks involved).
 */
import { hash, randomBytes } from 'node:crypto'
import { encode } from '../tribes/codec.ts'
import { CatteryError } from '../tribes/errors.ts'
import { AttributeMap } from './attribute-map.ts'
import { DeltaRequest } from './delta-request.ts'
import { sessionCodes } from './errors.ts'
import {
  attributeSize,
  checkAttributeCount,
  checkAttributeName,
  checkInactiveInterval,
  checkSessionSize,
  encodeAttribute,
  primitiveSize,
  type SessionLimits,
} from './limits.ts'
import { internWriter, ownString } from './rank.ts'

/** The limits (limits.ts: sizes, count, depth, max inactive interval) and how changes are recorded. */
export interface SessionPolicy extends SessionLimits {
  /** Only attributes whose name matches are replicated (Tomcat's sessionAttributeNameFilter). */
  attributeNameFilter: RegExp | undefined
  /** Record every action instead of the last one per attribute (Tomcat's recordAllActions). */
  recordAllActions: boolean
  /** Also replicate attributes changed in place (compares encoded forms at the end of a request). */
  trackInPlaceChanges: boolean
}

export interface SessionData {
  id: string
  creationTime: number
  lastAccessedTime: number
  maxInactiveInterval: number
  principal: string | undefined
  authType: string | undefined
  version: number
  /** The member that made this version (rank.ts); absent from members that predate the rule. */
  writer?: string
  attributes: Array<[string, unknown]>
}

/**
 * SessionData as a tuple, fields in the order of SessionData: how state-transfer pages carry a session
 * when the joiner asks for it (`packed`). An object's keys would be encoded and read again for every
 * session, each of which is encoded on its own; a tuple halves decoding a page (bench/RESULTS.md).
 */
export type SessionTuple = [
  id: string,
  creationTime: number,
  lastAccessedTime: number,
  maxInactiveInterval: number,
  principal: string | undefined,
  authType: string | undefined,
  version: number,
  writer: string | undefined,
  attributes: Array<[string, unknown]>,
]

export const toTuple = (d: SessionData): SessionTuple => [
  d.id,
  d.creationTime,
  d.lastAccessedTime,
  d.maxInactiveInterval,
  d.principal,
  d.authType,
  d.version,
  d.writer,
  d.attributes,
]

/** The SessionData of a tuple; its fields are checked as any copy's are (replicated-checks.ts). */
export function fromTuple(t: unknown[]): SessionData {
  if (t.length !== 9) throw new Error(`a packed session has ${t.length} fields, not 9`)
  const d: SessionData = {
    id: t[0] as string,
    creationTime: t[1] as number,
    lastAccessedTime: t[2] as number,
    maxInactiveInterval: t[3] as number,
    principal: t[4] as string | undefined,
    authType: t[5] as string | undefined,
    version: t[6] as number,
    attributes: t[8] as Array<[string, unknown]>,
  }
  if (t[7] !== undefined) d.writer = t[7] as string
  return d
}

/** 128 random bits from the crypto RNG, as Tomcat prints them (32 upper-case hex digits). */
export function newSessionIdBase(): string {
  return randomBytes(16).toString('hex').toUpperCase()
}

export class Session {
  id: string
  readonly creationTime: number
  lastAccessedTime: number
  maxInactiveInterval: number
  principal: string | undefined
  authType: string | undefined
  isNew = true
  valid = true
  version: number
  /** The member that made this version (its uniqueId in hex): with `version`, the state's rank (rank.ts). */
  writer: string
  /** This node served the last request for it (it replicates its expiry). */
  primary = false
  /**
   * When this node last sent anything about it, or received its creation, a change or an access from
   * another member (which every holder received too): a read sends an 'accessed' message only when
   * this is older than the interval (local-writes.ts).
   */
  lastReplicated = 0
  readonly policy: SessionPolicy
  readonly #attributes: AttributeMap
  /** Encoded size of all attributes; -1 until first needed (a copy installed by replication sets it). */
  #size = -1
  // Bookkeeping for local changes only, created on first use: a replica holding thousands of
  // sessions pays for its attributes and little else. One small map of notes per session, not a
  // Map per purpose: two Maps cost ~370 bytes per session on the member that serves it.
  /** Per attribute: its encoded size as set here, and its form as last replicated (LocalNote). */
  #local: AttributeMap | undefined
  #delta: DeltaRequest | undefined

  constructor(init: { id: string; maxInactiveInterval: number; policy: SessionPolicy; data?: SessionData }) {
    const d = init.data
    // A copy from a peer keeps its id and writer for life: owned, not slices of the message.
    this.id = d ? ownString(init.id) : init.id
    this.policy = init.policy
    this.creationTime = d?.creationTime ?? Date.now()
    this.lastAccessedTime = d?.lastAccessedTime ?? this.creationTime
    this.maxInactiveInterval = d?.maxInactiveInterval ?? init.maxInactiveInterval
    this.principal = d?.principal
    this.authType = d?.authType
    this.version = d?.version ?? 1
    this.writer = d?.writer ? internWriter(d.writer) : ''
    this.#attributes = new AttributeMap(d?.attributes)
    if (d) this.isNew = false
  }

  /** The change log of the current request. */
  get delta(): DeltaRequest {
    this.#delta ??= new DeltaRequest(this.policy.recordAllActions)
    return this.#delta
  }

  get(name: string): unknown {
    this.#check()
    return this.#attributes.get(name)
  }

  has(name: string): boolean {
    this.#check()
    return this.#attributes.has(name)
  }

  keys(): string[] {
    this.#check()
    return this.#attributes.keys()
  }

  /** Sets an attribute; refuses values that cannot be replicated and values over the size limits. */
  set(name: string, value: unknown): void {
    this.#check()
    checkAttributeName(name)
    if (value === undefined) {
      this.delete(name)
      return
    }
    // Objects are encoded (their size, and their form for in-place change detection); primitives measured.
    const bytes = changesInPlace(value) ? encodeAttribute(name, value, this.policy) : undefined
    const size = bytes ? bytes.length : attributeSize(name, value, this.policy)
    const had = this.#attributes.has(name)
    if (!had) checkAttributeCount(this.#attributes.size + 1, this.policy)
    const total = this.size - (had ? this.sizeOf(name) : 0) + size
    checkSessionSize(total, this.policy, name)
    this.#size = total
    this.#attributes.set(name, value)
    const replicates = this.#replicates(name)
    const tracked = replicates && this.policy.trackInPlaceChanges && bytes !== undefined
    this.#note(name, size, tracked ? formOf(bytes) : undefined)
    if (replicates) this.delta.set(name, value)
  }

  delete(name: string): boolean {
    this.#check()
    if (!this.#attributes.has(name)) return false
    this.applyRemove(name)
    if (this.#replicates(name)) this.delta.remove(name)
    return true
  }

  setMaxInactiveInterval(seconds: number): void {
    this.#check()
    checkInactiveInterval(seconds, this.policy)
    this.maxInactiveInterval = seconds
    this.delta.maxInactive(seconds)
  }

  setPrincipal(principal: string | undefined, authType?: string): void {
    this.#check()
    this.principal = principal
    this.authType = authType
    this.delta.principal(principal, authType)
  }

  /**
   * Records attributes changed in place since they were last set or replicated (trackInPlaceChanges):
   * Tomcat replicates only setter calls, and silently loses `cart.push(item)`.
   */
  noticeInPlaceChanges(): void {
    if (!this.policy.trackInPlaceChanges || !this.valid) return
    // Walked in place (no copy of the entries per request): nothing below changes the attributes.
    this.#attributes.forEach((value, name) => {
      if (!changesInPlace(value) || !this.#replicates(name) || this.#delta?.touches(name)) return
      const bytes = encode(value)
      const now = formOf(bytes)
      const before = (this.#local?.get(name) as LocalNote | undefined)?.form
      if (before !== undefined && sameForm(before, now)) return
      this.#note(name, bytes.length, now)
      // An attribute never seen here before (it arrived by replication) is only recorded.
      if (before === undefined) return
      // Its size changed without a set: the session's total is measured again when needed.
      this.#size = -1
      this.delta.set(name, value)
    })
  }

  /** Is it past its max inactive interval at `now`? (negative intervals never expire) */
  isExpired(now: number): boolean {
    return this.maxInactiveInterval >= 0 && now - this.lastAccessedTime > this.maxInactiveInterval * 1000
  }

  /** Encoded size of all attributes, bytes (computed once, then kept up to date). */
  get size(): number {
    if (this.#size < 0) {
      let total = 0
      for (const [, v] of this.#attributes.entries()) total += encodedSize(v)
      this.#size = total
    }
    return this.#size
  }

  /** Attributes held. */
  get attributeCount(): number {
    return this.#attributes.size
  }

  /** Encoded size of one attribute now (0 when there is none): noted when it was set here, else measured. */
  sizeOf(name: string): number {
    if (!this.#attributes.has(name)) return 0
    const known = (this.#local?.get(name) as LocalNote | undefined)?.size
    if (known !== undefined) return known
    const value = this.#attributes.get(name)
    return encodedSize(value)
  }

  /** Whether it holds the attribute, also once invalidated (replicated-checks.ts). */
  holds(name: string): boolean {
    return this.#attributes.has(name)
  }

  /**
   * The encoded size of all attributes, as a replicated change or copy checked before it was
   * applied (replicated-checks.ts) computed it: spares encoding them all again.
   */
  knownSize(total: number): void {
    // A negative total: not measured, computed by `size` when first needed.
    this.#size = total
  }

  /** The replicated state: what a new member receives in state transfer. */
  toData(): SessionData {
    const attributes: Array<[string, unknown]> = []
    for (const [k, v] of this.#attributes.entries()) if (this.#replicates(k)) attributes.push([k, v])
    return {
      id: this.id,
      creationTime: this.creationTime,
      lastAccessedTime: this.lastAccessedTime,
      maxInactiveInterval: this.maxInactiveInterval,
      principal: this.principal,
      authType: this.authType,
      version: this.version,
      writer: this.writer,
      attributes,
    }
  }

  /**
   * Applies a replicated change on a replica, checked before (replicated-checks.ts), which then sets
   * the session's size with knownSize().
   */
  applySet(name: string, value: unknown): void {
    this.#attributes.set(name, value)
    this.#size = -1
    this.#local?.delete(name)
  }

  applyRemove(name: string): void {
    if (!this.#attributes.has(name)) return
    if (this.#size >= 0) this.#size -= this.sizeOf(name)
    this.#attributes.delete(name)
    this.#local?.delete(name)
  }

  #note(name: string, size: number, form: Form | undefined): void {
    this.#local ??= new AttributeMap()
    this.#local.set(name, { size, form } satisfies LocalNote)
  }

  #replicates(name: string): boolean {
    return this.policy.attributeNameFilter ? this.policy.attributeNameFilter.test(name) : true
  }

  #check(): void {
    if (!this.valid)
      throw new CatteryError(sessionCodes.INVALID_SESSION, `session ${this.id} has been invalidated`)
  }
}

/** A value's encoded size: measured for a number, boolean, null or string (primitiveSize), else encoded. */
const encodedSize = (value: unknown): number => primitiveSize(value) ?? encode(value).length

/**
 * Whether a value can change without a set(): objects (arrays, maps, dates, ...) can; a string,
 * number, boolean or bigint cannot, so in-place change detection neither remembers nor encodes it
 * again on every request (a 1 KB string attribute cost an encoding and a digest per request).
 */
const changesInPlace = (value: unknown): boolean => typeof value === 'object' && value !== null

/**
 * What in-place change detection remembers of an attribute's encoded form: a copy when it is small, a
 * SHA-1 digest of it otherwise. Keeping the encoding itself would hold a second copy of every large
 * value on the member that served the session — and the encoder's whole buffer it was cut from (about
 * 2.4 KB per session of 1 KB, measured with 21,000 sessions: 50 MB of buffers on the serving member
 * against 0.4 MB on a replica).
 */
type Form = Buffer | string
const SMALL_FORM = 64

/** What the serving member keeps per attribute it set or saw (sizes spare encoding the old value on a set). */
interface LocalNote {
  readonly size: number
  /** Undefined when in-place change detection is off or the attribute is not replicated. */
  readonly form: Form | undefined
}

function formOf(bytes: Buffer): Form {
  return bytes.length <= SMALL_FORM ? Buffer.from(bytes) : hash('sha1', bytes, 'base64')
}

function sameForm(a: Form, b: Form): boolean {
  return typeof a === 'string' ? a === b : typeof b !== 'string' && a.equals(b)
}
