/**
 * The last membership events a node saw (members joining and leaving its view, with the reason),
 * for the dashboard, and their counts by event and reason, for /metrics. Bounded: a ring of `size`
 * events (MEMBERSHIP_LOG_SIZE, 50), the oldest overwritten; counts for at most MAX_REASONS distinct
 * reasons, later ones counted as 'other'. Records from the moment it is created (before the channel
 * starts), whether or not a dashboard is open.
 */
import type { Channel } from '../../tribes/channel-types.ts'
import { addressOf, type Member } from '../../tribes/member.ts'

export const MEMBERSHIP_LOG_SIZE = 50
const MAX_REASONS = 32

export interface MembershipEvent {
  /** ms since the epoch */
  at: number
  event: 'joined' | 'left'
  member: string
  address: string
  /** Why it left: shutdown, timeout, restarted, removed, domain (membership/service.ts). */
  reason?: string
}

export class MembershipLog {
  readonly #ring: Array<MembershipEvent | undefined>
  #next = 0
  readonly #counts = new Map<string, { event: string; reason: string; count: number }>()
  readonly #channel: Channel
  readonly #added = (m: Member) => this.record({ at: Date.now(), event: 'joined', ...who(m) })
  readonly #gone = (m: Member, reason: string) =>
    this.record({ at: Date.now(), event: 'left', ...who(m), reason: String(reason) })

  constructor(channel: Channel, size = MEMBERSHIP_LOG_SIZE) {
    this.#ring = new Array(size).fill(undefined)
    this.#channel = channel
    channel.on('memberAdded', this.#added)
    channel.on('memberDisappeared', this.#gone)
  }

  record(e: MembershipEvent): void {
    this.#ring[this.#next] = e
    this.#next = (this.#next + 1) % this.#ring.length
    const reason = e.reason ?? ''
    let key = `${e.event}\u0000${reason}`
    if (!this.#counts.has(key) && this.#counts.size >= MAX_REASONS) key = `${e.event}\u0000other`
    const c = this.#counts.get(key) ?? { event: e.event, reason: key.split('\u0000')[1] as string, count: 0 }
    c.count++
    this.#counts.set(key, c)
  }

  /** The events held, newest first. */
  recent(): MembershipEvent[] {
    const out: MembershipEvent[] = []
    for (let i = 1; i <= this.#ring.length; i++) {
      const e = this.#ring[(this.#next - i + this.#ring.length) % this.#ring.length]
      if (e) out.push(e)
    }
    return out
  }

  /** Events seen since the start, by event and reason ('' for a join). */
  counts(): Array<{ event: string; reason: string; count: number }> {
    return [...this.#counts.values()].map((c) => ({ ...c }))
  }

  close(): void {
    this.#channel.off('memberAdded', this.#added)
    this.#channel.off('memberDisappeared', this.#gone)
  }
}

const who = (m: Member) => ({ member: m.name || '?', address: addressOf(m) })
