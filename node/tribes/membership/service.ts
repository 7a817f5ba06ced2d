import type { EventEmitter } from 'node:events'
import type { Member } from '../member.ts'

/** How a member was last heard from: its multicast heartbeat, or its answer to this member's TCP ping. */
export type HeardVia = 'heartbeat' | 'ping'

/** When a member was last heard from (ms since the epoch), and how. */
export interface LastHeard {
  at: number
  via: HeardVia
}

/**
 * A membership service finds the other members and notices when they go.
 * Events: 'memberAdded' (member), 'memberDisappeared' (member, reason), 'memberSuspect' (member, cause)
 * for a failed liveness check that a failure detector may confirm at once.
 * Reasons: 'shutdown' (it announced its departure), 'timeout' (silent past dropTime/expireTime),
 * 'restarted' (a new uniqueId answers at its address), 'removed' (removed by the channel, e.g. the
 * failure detector confirmed it dead), 'domain' (left this domain).
 */
export interface MembershipService extends EventEmitter {
  start(local: Member): Promise<void>
  /** Stops and announces this member's departure, so peers drop it at once. */
  stop(): Promise<void>
  members(): Member[]
  /** Forgets a member until it shows itself again (a heartbeat, a successful ping). */
  remove(member: Member, reason: string): void
  /** A peer said goodbye over TCP (BYE frame). */
  departed(member: Member): void
  /** The local member changed (e.g. its ready flag): announce it soon. */
  localChanged(): void
  /** A member pinged us (so it is alive, and may be new): a chance to learn of it before the next round. */
  heard?(member: Member): void
  /**
   * The ping of `member` under way, if any (it pinged us, or sent a message, before this service
   * admitted it): settles once the answer is in, so that a message that came first can wait for it.
   */
  admission?(member: Member): Promise<void> | undefined
  /** When and how a member of the view was last heard from (undefined: not known to this service). */
  lastHeard(member: Member): LastHeard | undefined
}
