/**
 * The BackupManager's repair decisions, as a pure function: from the member view of the last pass
 * (`before`), the view now (`after`) and the copies this member holds, which copies go to which
 * members and which copies this member drops once they arrived. The manager (backup-manager.ts)
 * sends them (ownership-transfer.ts) and drops only what every owner confirmed holding.
 *
 * Without a settled view yet (a member that just started), no other member is presumed to hold a
 * copy: every owner that holds one sends it to the other owners.
 *
 * For one held copy of session `key`, with `now` its owners in `after` and `was` its owners in
 * `before` (placement.ts), and `lead` the first of `now` that was an owner before and is still in
 * the view (it held the copy all along):
 * - this member owns it and is the lead: it sends the copy to the owners that are new (they may
 *   lack it); when no owner of before is left (`lead` undefined), every owner that holds it sends it
 *   to the other owners (this member may hold the last copy); otherwise the lead does it;
 * - this member does not own it (a fetched proxy copy, or it was displaced by a joiner):
 *   - a proxy still in use is kept (a request may use it again within the proxy's lifetime); it is
 *     sent to the owners only when no owner of before is left (it may be the last copy);
 *   - otherwise it is sent to every owner and dropped once each confirmed it (the push is
 *     synchronously acknowledged); a copy whose last write here every current owner already
 *     acknowledged (`confirmed`) is dropped without a push. A copy is never dropped on the
 *     strength of the view alone.
 * Copies go to every member of the view, ready or not: a joiner also pulls its share
 * (state-transfer.ts, so that it is ready only once it holds it), and what it gets twice it drops
 * by rank. Readiness is learned from pings, a moment late, and a push held back for it would leave
 * a session with fewer copies meanwhile.
 */
import type { PlacementView } from './placement.ts'

/** A copy this member holds. */
export interface HeldCopy {
  /** The session id without its route. */
  readonly key: string
  /** A proxy copy still in use (fetched or served here within the proxy lifetime). */
  readonly inUse: boolean
  /** Every owner in `after` acknowledged this copy's last write from here (synchronous ACK). */
  readonly confirmed: boolean
}

export interface RepairInput {
  /** This member (writer id). */
  readonly self: string
  /** The last settled view; undefined when there is none yet (nobody is presumed to hold a copy). */
  readonly before: PlacementView | undefined
  readonly after: PlacementView
  /** 1 + backups. */
  readonly copies: number
}

/** What to do with one copy. */
export interface RepairAction {
  readonly key: string
  /** Members to send the copy to. */
  readonly to: readonly string[]
  /** Drop the copy here once every member of `to` confirmed it. */
  readonly drop: boolean
}

/** The action for one held copy; undefined when there is nothing to do. */
export function repairAction(input: RepairInput, copy: HeldCopy): RepairAction | undefined {
  const { self, before, after, copies } = input
  const now = after.owners(copy.key, copies)
  const was = before?.owners(copy.key, copies) ?? []
  const lead = now.find((m) => was.includes(m))
  let to: string[]
  let drop = false
  if (now.includes(self)) {
    if (lead === self) to = now.filter((m) => m !== self && !was.includes(m))
    else if (lead === undefined) to = now.filter((m) => m !== self)
    else return undefined
  } else if (copy.inUse) {
    if (lead !== undefined) return undefined
    to = now
  } else {
    drop = true
    to = copy.confirmed ? [] : now
  }
  if (to.length === 0 && !drop) return undefined
  return { key: copy.key, to, drop }
}

/** The actions for every held copy (those with something to do). */
export function planRepair(input: RepairInput, held: Iterable<HeldCopy>): RepairAction[] {
  const actions: RepairAction[] = []
  for (const copy of held) {
    const a = repairAction(input, copy)
    if (a) actions.push(a)
  }
  return actions
}
