/**
 * Where a session lives under the BackupManager: rendezvous (highest random weight) hashing over the
 * member view and the session's key (its id without the route suffix, store.ts). Every member scores
 * every (member, session) pair with the same hash; the session's owners are the 1 + k members with
 * the highest scores, the first being its primary. So any member computes where a session lives from
 * its view alone — no proxy entries, no messages — and members whose views agree agree on the owners.
 * When a member joins or leaves, only the sessions it owns (or comes to own) move: about (1 + k) / N
 * of them, each to or from that member only (test/unit/session/placement.test.ts).
 *
 * Pure: members are named by their writer id (rank.ts: the first 64 bits of the uniqueId, hex), so a
 * restarted member (a new uniqueId) is a new member with a new share.
 */

import { fmix, fnv1a } from './hash.ts'

/** Two independent 32-bit lanes of a string's hash (a 53-bit score is made of them). */
interface Lanes {
  readonly a: number
  readonly b: number
}

const lanes = (s: string): Lanes => ({ a: fnv1a(s, 0x811c9dc5), b: fnv1a(s, 0x9747b28c) })

/** The score of one member for one session: higher wins; 53 bits, so ties are a 2^-53 chance. */
function score(member: Lanes, session: Lanes): number {
  const hi = fmix(member.a ^ session.a ^ 0x5bd1e995) >>> 11 // 21 bits
  const lo = fmix(member.b ^ session.b ^ 0x1b873593) // 32 bits
  return hi * 0x1_0000_0000 + lo
}

/** A member view prepared for placement: each member's hash is computed once. */
export class PlacementView {
  /** The members (writer ids), sorted, so two equal views compare equal. */
  readonly members: readonly string[]
  readonly #lanes: ReadonlyArray<readonly [string, Lanes]>

  constructor(members: Iterable<string>) {
    this.members = [...new Set(members)].sort()
    this.#lanes = this.members.map((m) => [m, lanes(m)] as const)
  }

  /** Same members? */
  equals(other: PlacementView): boolean {
    return (
      this.members.length === other.members.length && this.members.every((m, i) => m === other.members[i])
    )
  }

  has(member: string): boolean {
    return this.#lanes.some(([m]) => m === member)
  }

  /**
   * The owners of session `key` (an id without its route suffix): the `count` members with the
   * highest scores, highest first (fewer when the view is smaller). Ties go to the lower member id.
   */
  owners(key: string, count: number): string[] {
    const s = lanes(key)
    const top: Array<{ m: string; w: number }> = []
    for (const [m, l] of this.#lanes) {
      const w = score(l, s)
      let i = top.length
      while (
        i > 0 &&
        ((top[i - 1] as { w: number }).w < w ||
          ((top[i - 1] as { w: number }).w === w && (top[i - 1] as { m: string }).m > m))
      )
        i--
      if (i >= count) continue
      top.splice(i, 0, { m, w })
      if (top.length > count) top.pop()
    }
    return top.map((t) => t.m)
  }

  /** `member`'s place among the owners of `key`: 0 primary, 1..count-1 backup, -1 not an owner. */
  role(key: string, count: number, member: string): number {
    return this.owners(key, count).indexOf(member)
  }
}

/** The owners of `key` among `members` (see PlacementView.owners). */
export function owners(members: Iterable<string>, key: string, count: number): string[] {
  return new PlacementView(members).owners(key, count)
}
