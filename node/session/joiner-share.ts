/**
 * Which member sends a joiner each session it owns under the BackupManager (state transfer with
 * fromEveryDonor, state-transfer.ts), so that each session arrives once and none is missed.
 *
 * A session's holders are its owners in the view without the joiner (placement.ts), first its
 * primary. The joiner names in its request the donors it asks (`donors`: the ready members it sees,
 * and those that already completed a transfer to it); of a session's holders, the first that is
 * such a donor sends it. When none of its holders is a donor (they are joining too), every donor
 * that holds a copy sends it, as before this rule.
 *
 * When a donor leaves before completing its transfer, the joiner asks again the donors that
 * completed theirs, naming both the donors now and those of the earlier request: each then sends
 * the sessions it is the sender of now and was not then (the joiner did not own them then, or
 * another holder was to send them), so the part of the donor that left is sent by the next holder,
 * and nothing twice. The holders of then are the owners in the view now with the donors of then
 * added back (the one that left among them).
 *
 * Pure: members are writer ids (rank.ts).
 */

/** The first of `holders` that is among `donors`. */
const senderAmong = (holders: readonly string[], donors: ReadonlySet<string>): string | undefined =>
  holders.find((h) => donors.has(h))

/** A repeated request: the session's holders then (undefined: the joiner did not own it then), and the donors named then. */
export interface Earlier {
  readonly holders: readonly string[] | undefined
  readonly donors: ReadonlySet<string>
}

/**
 * Does `self`, holding a copy of a session the joiner owns, send it? `holders`: the session's owners
 * in the view without the joiner; `donors`: as the joiner's request names them; `earlier`: for a
 * repeated request, what held when this member completed its earlier transfer to the same joiner.
 */
export function sendsToJoiner(
  self: string,
  holders: readonly string[],
  donors: ReadonlySet<string>,
  earlier?: Earlier,
): boolean {
  const now = senderAmong(holders, donors)
  if (now !== undefined && now !== self) return false
  if (!earlier?.holders) return true
  // Sent then when this member was the sender, or when no holder was a donor (every holder sent it).
  const then = senderAmong(earlier.holders, earlier.donors)
  return then !== undefined && then !== self
}
