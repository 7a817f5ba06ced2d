/**
 * Re-sync from a member (state-transfer.ts): a member that comes back into the view after a gap (it
 * was cut off and dropped), or whose changes stay held past the hold timeout (replica-log.ts), may
 * hold sessions this one missed. Then this member fetches every session from it again, with the same
 * transfer as a join (transfer-receiver.ts), installing only the copies newer than its own (by
 * version), and asks a returning member to do the same (`resync-request`). Re-syncs wait their turn
 * behind the running transfer (at most one queued or running per member); one triggered by held
 * changes is not repeated for a member within cooldownMs. Bound: departed members remembered to
 * recognise a rejoin, at most MAX_DEPARTED (oldest forgotten first); end times kept for cooldownMs.
 */
import type { Logger } from 'pino'
import type { Channel } from '../tribes/channel-types.ts'
import { describeMember, type Member, memberId } from '../tribes/member.ts'
import { SendOption } from '../tribes/send-options.ts'
import { type MessageCounts, SESSION_MESSAGE } from './messages.ts'

/** Departed members remembered to recognise a rejoin (oldest forgotten first). */
const MAX_DEPARTED = 1024

export interface MemberResyncOptions {
  channel: Channel
  contextPath: string
  logger: Logger
  /** The manager's counts of sent messages, by type. */
  sent: MessageCounts
  /** A re-sync for held changes is not repeated for the same member within this time. */
  cooldownMs: number
  /** Where re-syncs done are counted (the transfer's, for /status). */
  counters: { resyncs: number }
  /** One transfer from `member`: undefined when complete, otherwise why not. */
  fetchFrom(member: Member): Promise<string | undefined>
  /** Runs `task` once the transfers queued before it ended (one transfer at a time). */
  exclusive(task: () => Promise<void>): Promise<void>
  stopped(): boolean
}

export class MemberResync {
  readonly #o: MemberResyncOptions
  /** Re-syncs queued or running, by member id; when each member's last one ended. */
  readonly #resyncing = new Set<string>()
  readonly #resynced = new Map<string, number>()
  readonly #departed = new Set<string>()
  readonly #onAdded = (m: Member) => this.#memberAdded(m)
  readonly #onGone = (m: Member) => this.#memberGone(m)

  constructor(options: MemberResyncOptions) {
    this.#o = options
  }

  /** A re-sync is queued or running. */
  get pending(): boolean {
    return this.#resyncing.size > 0
  }

  /** Watches the view for members that come back after a gap. */
  watchRejoins(): void {
    this.#o.channel.on('memberAdded', this.#onAdded)
    this.#o.channel.on('memberDisappeared', this.#onGone)
  }

  /** Ends the rejoin watch. */
  stop(): void {
    this.#o.channel.off('memberAdded', this.#onAdded)
    this.#o.channel.off('memberDisappeared', this.#onGone)
  }

  /**
   * Fetches every session again from `member` (when it is in the view and ready), installing the
   * copies newer than those held. True when a re-sync from it is queued or running now; false when
   * none can be (gone, not ready, stopped, or — with `cooldown` — one ended less than cooldownMs
   * ago).
   */
  resync(member: Member, why: string, cooldown = true): boolean {
    const id = memberId(member)
    if (this.#resyncing.has(id)) return true
    const current = this.#o.channel.members().find((m) => memberId(m) === id)
    if (this.#o.stopped() || !current?.ready) return false
    if (cooldown && Date.now() - (this.#resynced.get(id) ?? 0) < this.#o.cooldownMs) return false
    this.#resyncing.add(id)
    this.#o.logger.info({ member: describeMember(current), why }, 're-syncing sessions from a member')
    void this.#o.exclusive(async () => {
      try {
        const now = this.#o.channel.members().find((m) => memberId(m) === id)
        if (!now || this.#o.stopped()) return
        const reason = await this.#o.fetchFrom(now)
        this.#o.counters.resyncs++
        if (reason)
          this.#o.logger.warn({ member: describeMember(now), reason }, 're-sync from a member failed')
      } finally {
        this.#resyncing.delete(id)
        const now = Date.now()
        for (const [m, at] of this.#resynced) if (now - at > this.#o.cooldownMs) this.#resynced.delete(m)
        this.#resynced.set(id, now)
      }
    })
    return true
  }

  #memberGone(m: Member): void {
    this.#departed.add(memberId(m))
    if (this.#departed.size > MAX_DEPARTED)
      this.#departed.delete(this.#departed.values().next().value as string)
  }

  /**
   * A member that left the view came back: both sides may have missed changes (a member cut off or
   * paused does not notice that it was dropped). Fetch what it holds, and ask it to fetch what this
   * member holds.
   */
  #memberAdded(m: Member): void {
    if (!this.#departed.delete(memberId(m))) return
    this.resync(m, 'the member rejoined after a gap', false)
    this.#o.sent['resync-request']++
    this.#o.channel
      .send(m, { k: SESSION_MESSAGE, type: 'resync-request', ctx: this.#o.contextPath }, SendOption.USE_ACK)
      .catch((err) =>
        this.#o.logger.warn(
          { member: describeMember(m), err: (err as Error).message },
          'cannot ask a returning member to re-sync',
        ),
      )
  }
}
