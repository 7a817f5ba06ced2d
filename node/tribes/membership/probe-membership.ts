/**
 * Membership over TCP pings to a list of addresses (Tribes' static membership; also the base of the
 * Kubernetes provider, whose list changes at runtime). Each address is pinged every `pingInterval`;
 * the PONG names the member there, so a restart on the same address (new uniqueId) is seen as one
 * member leaving and another joining. A member not answering for `expireTime` is dropped; a failed
 * ping makes it a suspect at once, which a failure detector may confirm sooner.
 *
 * With `acceptUnlisted` (Kubernetes: the list is published by the operator and reaches each member a
 * little later than the new pod's first ping), a member of this domain that pings us from an address
 * not listed yet is pinged back and joins the view at once, so every member knows a joiner before it
 * asks for the sessions; it is kept while the list has not caught up, for up to UNLISTED_GRACE_MS,
 * and then only if the list names it. An address the list dropped is not taken back from its pings
 * for DEPARTED_MEMORY_MS (the list said it is gone). Static membership keeps Tribes' rule: listed
 * members only.
 */
import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import { encodePlain } from '../codec.ts'
import { type CatteryError, codes } from '../errors.ts'
import { addressOf, type Member, memberId, toWire } from '../member.ts'
import type { ChannelSecurity } from '../security/channel-security.ts'
import { probe, sayGoodbye } from '../transport/probe.ts'
import type { DynamicMembershipSource, MemberAddress } from './dynamic.ts'
import type { LastHeard, MembershipService } from './service.ts'

export interface ProbeMembershipOptions {
  pingInterval: number
  expireTime: number
  /** Members that ping us from an address the list does not name (yet) join too. */
  acceptUnlisted?: boolean
}

interface Target {
  address: MemberAddress
  member: Member | undefined
  lastSeen: number
  /** The ping under way, if any. */
  inFlight: Promise<void> | undefined
  self: boolean
  /** Not (yet) in the list: since when it is known from its ping. */
  unlistedSince?: number
}

/** How long a member known only from its ping is kept while the list does not name it. */
const UNLISTED_GRACE_MS = 10_000

/** How long the uniqueId of a member that said goodbye is ignored (its last PONGs may still come). */
const DEPARTED_MEMORY_MS = 60_000

export class ProbeMembership extends EventEmitter implements MembershipService {
  readonly #source: DynamicMembershipSource
  readonly #options: ProbeMembershipOptions
  readonly #logger: Logger
  readonly #targets = new Map<string, Target>()
  readonly #departed = new Map<string, number>()
  /** Addresses the list dropped, and when: their pings do not bring them back. */
  readonly #delisted = new Map<string, number>()
  #local: Member | undefined
  #unsubscribe: (() => void) | undefined
  #timer: NodeJS.Timeout | undefined
  #stopped = false

  readonly #security: ChannelSecurity

  constructor(
    source: DynamicMembershipSource,
    options: ProbeMembershipOptions,
    logger: Logger,
    security: ChannelSecurity,
  ) {
    super()
    this.#security = security
    this.#source = source
    this.#options = options
    this.#logger = logger
  }

  /** Resolves after the first round of pings, so the caller starts knowing who is there. */
  async start(local: Member): Promise<void> {
    this.#local = local
    await this.#source.ready?.()
    this.#unsubscribe = this.#source.subscribe((list) => this.#setAddresses(list))
    this.#timer = setInterval(() => this.#tick(), this.#options.pingInterval)
    this.#timer.unref()
    await Promise.all(this.#tick())
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearInterval(this.#timer)
    this.#unsubscribe?.()
    this.#source.close?.()
    const wire = this.#wire()
    const timeout = Math.min(1000, this.#options.pingInterval)
    await Promise.all(this.members().map((m) => sayGoodbye(m, timeout, wire, this.#security)))
  }

  members(): Member[] {
    const out: Member[] = []
    for (const t of this.#targets.values()) if (t.member) out.push(t.member)
    return out
  }

  remove(member: Member, reason: string): void {
    const id = memberId(member)
    for (const t of this.#targets.values()) {
      if (t.member && memberId(t.member) === id) {
        t.member = undefined
        this.emit('memberDisappeared', member, reason)
      }
    }
  }

  departed(member: Member): void {
    this.#departed.set(memberId(member), Date.now())
    this.remove(member, 'shutdown')
  }

  localChanged(): void {
    this.#source.localReady?.(this.#local?.ready === true)
    // Peers read our ready flag from the PONGs they get: nothing to push.
  }

  lastHeard(member: Member): LastHeard | undefined {
    const id = memberId(member)
    for (const t of this.#targets.values())
      if (t.member && memberId(t.member) === id) return { at: t.lastSeen, via: 'ping' }
    return undefined
  }

  heard(member: Member): void {
    let t = this.#targets.get(addressOf(member))
    const delisted = this.#delisted.get(addressOf(member))
    if (delisted !== undefined && Date.now() - delisted > DEPARTED_MEMORY_MS)
      this.#delisted.delete(addressOf(member))
    if (
      !t &&
      this.#options.acceptUnlisted &&
      !this.#stopped &&
      member.domain === this.#local?.domain &&
      !this.#delisted.has(addressOf(member))
    ) {
      t = this.#newTarget({ host: member.host, port: member.port })
      t.unlistedSince = Date.now()
      this.#targets.set(addressOf(member), t)
    }
    if (!t || t.self || (t.member && memberId(t.member) === memberId(member))) return
    void this.#probe(t, this.#wire())
  }

  admission(member: Member): Promise<void> | undefined {
    const t = this.#targets.get(addressOf(member))
    return t && !t.self ? t.inFlight : undefined
  }

  #newTarget(address: MemberAddress): Target {
    return { address, member: undefined, lastSeen: 0, inFlight: undefined, self: false }
  }

  #wire(): Buffer {
    return encodePlain(toWire(this.#local as Member))
  }

  #setAddresses(list: MemberAddress[]): void {
    const keep = new Set(list.map((a) => addressOf(a)))
    const now = Date.now()
    for (const [key, t] of this.#targets) {
      if (keep.has(key)) {
        t.unlistedSince = undefined
        continue
      }
      if (t.unlistedSince !== undefined && now - t.unlistedSince < UNLISTED_GRACE_MS) continue
      this.#targets.delete(key)
      this.#delisted.set(key, now)
      if (t.member) this.emit('memberDisappeared', t.member, 'removed')
    }
    for (const a of list) {
      const key = addressOf(a)
      this.#delisted.delete(key)
      if (!this.#targets.has(key)) this.#targets.set(key, this.#newTarget(a))
    }
    if (this.#local) void this.#tick()
  }

  #tick(): Promise<void>[] {
    if (this.#stopped) return []
    const now = Date.now()
    for (const [id, at] of this.#departed) if (now - at > DEPARTED_MEMORY_MS) this.#departed.delete(id)
    for (const [key, at] of this.#delisted) if (now - at > DEPARTED_MEMORY_MS) this.#delisted.delete(key)
    const wire = this.#wire()
    return [...this.#targets.values()].map((t) => this.#probe(t, wire))
  }

  #probe(t: Target, wire: Buffer): Promise<void> {
    if (this.#stopped || t.self) return Promise.resolve()
    t.inFlight ??= probe(t.address, this.#probeTimeout(), wire, this.#security).then(
      (m) => this.#answered(t, m),
      (err: CatteryError) => this.#silent(t, err),
    )
    return t.inFlight
  }

  /** A busy peer may answer late: wait up to a second (or the ping interval), never past expiry. */
  #probeTimeout(): number {
    return Math.min(this.#options.expireTime, Math.max(1000, this.#options.pingInterval))
  }

  #answered(t: Target, m: Member): void {
    t.inFlight = undefined
    if (this.#stopped || !this.#targets.has(addressOf(t.address))) return
    const local = this.#local as Member
    const id = memberId(m)
    if (id === memberId(local)) {
      t.self = true
      return
    }
    if (this.#departed.has(id)) return
    if (m.domain !== local.domain) {
      if (t.member) {
        const gone = t.member
        t.member = undefined
        this.emit('memberDisappeared', gone, 'domain')
      }
      return
    }
    t.lastSeen = Date.now()
    if (t.member && memberId(t.member) === id) {
      t.member.ready = m.ready
      return
    }
    if (t.member) {
      const old = t.member
      t.member = undefined
      this.emit('memberDisappeared', old, 'restarted')
    }
    // The member's real address is the one it announces; the list address may be a DNS name.
    t.member = m
    this.emit('memberAdded', m)
  }

  #silent(t: Target, err: CatteryError): void {
    t.inFlight = undefined
    if (err.code === codes.AUTH_FAILED || err.code === codes.FRAME_AUTH_FAILED)
      this.#logger.warn(
        { code: err.code, address: addressOf(t.address), err: err.message },
        'a member failed authentication: it does not hold this cluster secret',
      )
    if (this.#stopped || !t.member) return
    const member = t.member
    if (Date.now() - t.lastSeen > this.#options.expireTime) {
      t.member = undefined
      this.#logger.debug({ member: member.name, code: err.code }, 'member expired')
      this.emit('memberDisappeared', member, 'timeout')
      return
    }
    this.emit('memberSuspect', member, err)
  }
}
