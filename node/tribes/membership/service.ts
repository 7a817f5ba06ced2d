import type { EventEmitter } from 'node:events'
import type { Member } from '../member.ts'

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
}
