/**
 * Which of the sessions a BackupManager member holds it sends a joiner (the manager's stateIds, asked
 * by state-transfer.ts with fromEveryDonor): those the joiner owns in the view with it (placement.ts).
 * When the view is settled — the last repair pass (repair-pass.ts) was over this view, so the members
 * that own a session hold it — and the joiner's request names its donors, only those this member is
 * the sender of (joiner-share.ts); otherwise a new owner may not hold its copy yet, and every holder
 * sends what it holds of the joiner's share.
 *
 * Pure: members are writer ids (rank.ts).
 */
import { sendsToJoiner } from './joiner-share.ts'
import { PlacementView } from './placement.ts'
import type { TransferScope } from './state-transfer.ts'

export interface JoinerSessionsInput {
  /** This member's writer id. */
  readonly self: string
  readonly joiner: string
  /** 1 + backups. */
  readonly copies: number
  /** The placement view now. */
  readonly view: PlacementView
  /** The view of the last repair pass (repair-pass.ts settledView), if any. */
  readonly settled: PlacementView | undefined
  /** The keys of the sessions this member holds. */
  readonly keys: Iterable<string>
}

/** The keys of the sessions this member sends the joiner, under the joiner's request `scope`. */
export function sessionsForJoiner(input: JoinerSessionsInput, scope?: TransferScope): string[] {
  const { self, joiner, copies, keys } = input
  const members = input.view.members.filter((m) => m !== joiner)
  const view = new PlacementView([...members, joiner])
  const ids: string[] = []
  // The view without the joiner: each session's holders.
  const holders = new PlacementView(members)
  const before = input.settled
  const settled =
    before !== undefined && holders.equals(new PlacementView(before.members.filter((m) => m !== joiner)))
  if (!scope || !settled) {
    for (const key of keys) if (view.owners(key, copies).includes(joiner)) ids.push(key)
    return ids
  }
  const donors = new Set(scope.donors)
  const sent = scope.sent && new Set(scope.sent)
  // A repeated request: the view then had the donors of then (one of them left since).
  const then = sent && new PlacementView([...members, ...sent].filter((m) => m !== joiner))
  const thenWithJoiner = then && new PlacementView([...then.members, joiner])
  for (const key of keys) {
    if (!view.owners(key, copies).includes(joiner)) continue
    const earlier = sent &&
      then &&
      thenWithJoiner && {
        holders: thenWithJoiner.owners(key, copies).includes(joiner) ? then.owners(key, copies) : undefined,
        donors: sent,
      }
    if (sendsToJoiner(self, holders.owners(key, copies), donors, earlier)) ids.push(key)
  }
  return ids
}
