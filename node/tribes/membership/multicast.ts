/**
 * Tomcat's McastService: every `frequency` ms (500) a heartbeat to `address:port` (228.0.0.4:45564)
 * announces this member; a member silent for `dropTime` ms (3000) is dropped. Members of another
 * domain are ignored (domain separation). On stop a shutdown packet is sent (twice: UDP may lose one)
 * so peers drop this member at once instead of after dropTime.
 *
 * Joining is quicker than Tomcat's (which waits two heartbeat intervals, 1 s by default, so that the
 * members already there are heard): a member answers at once the heartbeat of a member it hears for
 * the first time, and a ready member that of one not ready yet (joining); the joining member
 * announces itself JOIN_ANNOUNCEMENTS times, JOIN_STEP_MS apart, so it hears every member within a
 * few milliseconds and is done after JOIN_WAIT_MS, even if some of those packets are lost.
 *
 * With a cluster secret every packet is stamped and tagged with the primary secret
 * (security/packet-tag.ts), and a packet tagged with any secret this member holds is accepted; a packet
 * with a wrong or missing tag, a stale stamp or a replayed one is dropped and counted. At most MAX_MEMBERS
 * members are known at once; heartbeats of more are dropped and counted (MEMBERS_LIMIT).
 */
import dgram from 'node:dgram'
import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import { codes } from '../errors.ts'
import { addressOf, type Member, memberId } from '../member.ts'
import type { MulticastMembershipOptions } from '../options.ts'
import type { ChannelSecurity } from '../security/channel-security.ts'
import { ReplayGuard } from '../security/packet-tag.ts'
import { decodePacket, encodePacket, PacketKind } from './multicast-packet.ts'
import type { LastHeard, MembershipService } from './service.ts'

const JOIN_STEP_MS = 100
const JOIN_ANNOUNCEMENTS = 3
const JOIN_WAIT_MS = JOIN_STEP_MS * JOIN_ANNOUNCEMENTS
/** Answers to joining members are sent at most this often (a burst of joiners shares one). */
const ANSWER_EVERY_MS = 50
/** Members known at once (docs/limits.md). */
const MAX_MEMBERS = 1000

interface Known {
  member: Member
  lastSeen: number
}

export class MulticastMembership extends EventEmitter implements MembershipService {
  readonly #options: MulticastMembershipOptions
  readonly #logger: Logger
  readonly #known = new Map<string, Known>()
  /** uniqueIds that said goodbye, ignored for a while so a late heartbeat does not re-add them. */
  readonly #departed = new Map<string, number>()
  #socket: dgram.Socket | undefined
  #timer: NodeJS.Timeout | undefined
  #local: Member | undefined
  #lastAnswer = 0
  readonly #security: ChannelSecurity
  /** Tags what this member sends: the primary secret's multicast key. */
  readonly #key: Buffer | undefined
  /** Accepted tags: the multicast keys of every secret held. */
  readonly #accepted: Buffer[] | undefined
  readonly #replays = new ReplayGuard()
  foreignPackets = 0

  constructor(options: MulticastMembershipOptions, logger: Logger, security: ChannelSecurity) {
    super()
    this.#options = options
    this.#logger = logger
    this.#security = security
    this.#key = security.keys?.[0].multicast
    this.#accepted = security.keys?.map((k) => k.multicast)
  }

  async start(local: Member): Promise<void> {
    this.#local = local
    encodePacket(PacketKind.ALIVE, local, this.#key) // fails now if the member is too large to announce
    const o = this.#options
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true })
    socket.on('message', (data) => this.#onPacket(data))
    socket.on('error', (err) => this.#logger.warn({ err: err.message }, 'multicast socket error'))
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.bind(o.port, () => {
        socket.off('error', reject)
        resolve()
      })
    })
    const iface = o.bind ?? (local.host === '0.0.0.0' ? undefined : local.host)
    socket.addMembership(o.address, iface)
    if (iface) socket.setMulticastInterface(iface)
    socket.setMulticastTTL(o.ttl)
    socket.setMulticastLoopback(true)
    this.#socket = socket
    this.#timer = setInterval(() => this.#beat(), o.frequency)
    this.#timer.unref()
    // Give the members already there time to be heard before returning (they answer at once).
    const wait = Math.min(JOIN_WAIT_MS, o.frequency * 2)
    for (let waited = 0; waited < wait; waited += JOIN_STEP_MS) {
      this.#send(PacketKind.ALIVE)
      await new Promise((r) => setTimeout(r, Math.min(JOIN_STEP_MS, wait - waited)))
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer)
    const socket = this.#socket
    if (!socket) return
    this.#send(PacketKind.SHUTDOWN)
    await new Promise((r) => setTimeout(r, 20))
    this.#send(PacketKind.SHUTDOWN)
    await new Promise((r) => setTimeout(r, 5))
    this.#socket = undefined
    await new Promise<void>((resolve) => socket.close(() => resolve()))
  }

  members(): Member[] {
    return [...this.#known.values()].map((k) => k.member)
  }

  remove(member: Member, reason: string): void {
    const id = memberId(member)
    const k = this.#known.get(id)
    if (!k) return
    this.#known.delete(id)
    this.emit('memberDisappeared', k.member, reason)
  }

  departed(member: Member): void {
    this.#departed.set(memberId(member), Date.now())
    this.remove(member, 'shutdown')
  }

  lastHeard(member: Member): LastHeard | undefined {
    const k = this.#known.get(memberId(member))
    return k ? { at: k.lastSeen, via: 'heartbeat' } : undefined
  }

  localChanged(): void {
    this.#send(PacketKind.ALIVE)
  }

  #send(kind: (typeof PacketKind)[keyof typeof PacketKind]): void {
    const socket = this.#socket
    if (!socket || !this.#local) return
    socket.send(
      encodePacket(kind, this.#local, this.#key),
      this.#options.port,
      this.#options.address,
      (err) => {
        if (err) this.#logger.debug({ err: err.message }, 'heartbeat not sent')
      },
    )
  }

  /** A heartbeat now, for a member that is joining (rate-limited). */
  #answer(): void {
    const now = Date.now()
    if (now - this.#lastAnswer < ANSWER_EVERY_MS) return
    this.#lastAnswer = now
    this.#send(PacketKind.ALIVE)
  }

  #beat(): void {
    this.#send(PacketKind.ALIVE)
    const now = Date.now()
    for (const [id, k] of this.#known) {
      if (now - k.lastSeen <= this.#options.dropTime) continue
      this.#known.delete(id)
      this.emit('memberDisappeared', k.member, 'timeout')
    }
    for (const [id, at] of this.#departed)
      if (now - at > this.#options.dropTime * 2) this.#departed.delete(id)
    this.#replays.sweep(now)
  }

  #refuse(code: string, detail: Record<string, unknown> = {}): void {
    this.#security.count(code)
    this.#logger.debug({ code, ...detail }, 'multicast packet dropped')
  }

  #onPacket(data: Buffer): void {
    const packet = decodePacket(data, this.#accepted)
    const local = this.#local
    if (typeof packet === 'string') {
      this.#refuse(packet)
      return
    }
    if (!packet || !local) {
      this.foreignPackets++
      return
    }
    const { kind, member } = packet
    const id = memberId(member)
    if (id === memberId(local) || member.domain !== local.domain) return
    if (packet.stamp !== undefined) {
      const verdict = this.#replays.check(id, packet.stamp)
      if (verdict !== 'ok') {
        this.#refuse(codes.PACKET_REPLAY, { member: member.name, verdict })
        return
      }
    }
    if (kind === PacketKind.SHUTDOWN) {
      this.departed(member)
      return
    }
    if (this.#departed.has(id)) return
    const known = this.#known.get(id)
    // Two joining members answer each other only on first sight, so they cannot ping-pong.
    if (!known || (!member.ready && local.ready)) this.#answer()
    if (known) {
      known.lastSeen = Date.now()
      known.member.ready = member.ready
      return
    }
    // Same address, new uniqueId: the member restarted; the old one is gone now (before the bound
    // is looked at, so a member restarting into a full list takes its old entry's place).
    for (const [oldId, k] of this.#known) {
      if (addressOf(k.member) === addressOf(member)) {
        this.#known.delete(oldId)
        this.emit('memberDisappeared', k.member, 'restarted')
      }
    }
    if (this.#known.size >= MAX_MEMBERS) {
      this.#refuse(codes.MEMBERS_LIMIT, { member: member.name, limit: MAX_MEMBERS })
      return
    }
    this.#known.set(id, { member, lastSeen: Date.now() })
    this.emit('memberAdded', member)
  }
}
