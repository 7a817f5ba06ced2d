/**
 * A change of session id under the BackupManager's placement (backup-manager.ts): the new id may have
 * other owners (placement.ts) than the old one.
 *
 * - **Changed here** (changeSessionId, regenerate()): the new id's owners that did not own the old
 *   one get a copy pushed (ownership-transfer.ts).
 * - **Applied here** from another member's `change-id`: an old owner that does not own the new id
 *   hands its renamed copy to the new id's owners and drops it as soon as they confirmed it, rather
 *   than at the next repair pass (repair-pass.ts); an owner that did not confirm it is sent it again
 *   by that pass, which drops the copy then. A copy used here meanwhile (a proxy) is kept.
 */
import type { Member } from '../tribes/member.ts'
import type { ManagerMessage } from './cluster-manager.ts'
import type { SessionMessage } from './messages.ts'
import type { PlacementCache } from './placement-cache.ts'
import type { ProxyCopies } from './proxy-copies.ts'
import { writerOf } from './rank.ts'
import type { RepairPass } from './repair-pass.ts'
import { keyOf } from './store.ts'

export interface RenamedCopiesOptions {
  placement: Pick<PlacementCache, 'owns' | 'owners' | 'otherOwners'>
  proxies: Pick<ProxyCopies, 'has' | 'forget'>
  repair: Pick<RepairPass, 'unconfirm' | 'retryLater'>
  /** Whether this member holds a copy of `key`. */
  holds(key: string): boolean
  /** Drops this member's copy of `key`. */
  drop(key: string): void
  /** Pushes copies to a member; resolves with those it confirmed. */
  push(to: Member, keys: Iterable<string>): Promise<Set<string>>
  /** This member holds the copy of `key` (a proxy when it does not own it). */
  noteHeld(key: string): void
  /** This member is stopping (its departure hands its copies over). */
  stopping(): boolean
  /** The manager's placement counters this counts dropped copies in. */
  counters: { copiesDropped: number }
}

export class RenamedCopies {
  readonly #o: RenamedCopiesOptions

  constructor(options: RenamedCopiesOptions) {
    this.#o = options
  }

  /** A session held here changed its id from `oldKey` to `newKey` here (both keys, different). */
  changedHere(oldKey: string, newKey: string): void {
    const { placement } = this.#o
    this.#o.repair.unconfirm(oldKey)
    this.#o.proxies.forget(oldKey)
    const old = new Set(placement.owners(oldKey))
    for (const m of placement.otherOwners(newKey)) if (!old.has(writerOf(m))) void this.#o.push(m, [newKey])
    this.#o.noteHeld(newKey)
  }

  /** A message from another member was applied here: the id changes in it (alone or batched). */
  received(m: ManagerMessage): void {
    if (m.type === 'change-id') this.#renamed(m.newId)
    else if (m.type === 'batch' && Array.isArray(m.messages))
      for (const x of m.messages)
        if ((x as SessionMessage)?.type === 'change-id') this.#renamed((x as { newId: unknown }).newId)
  }

  /**
   * An id change was applied here: when this member does not own the new id (it owned the old one),
   * its copy is handed to the new id's owners and dropped at once, instead of at the next repair pass.
   */
  #renamed(newId: unknown): void {
    if (typeof newId !== 'string' || this.#o.stopping()) return
    const key = keyOf(newId)
    if (!this.#o.holds(key) || this.#o.placement.owns(key) || this.#o.proxies.has(key)) return
    void this.#release(key)
  }

  async #release(key: string): Promise<void> {
    const { placement, repair } = this.#o
    const owners = placement.otherOwners(key)
    const confirmed = await Promise.all(owners.map((m) => this.#o.push(m, [key])))
    let kept = false
    owners.forEach((m, i) => {
      if (confirmed[i]?.has(key)) return
      // Sent again by the next pass, which drops the copy then.
      repair.retryLater(key, writerOf(m))
      kept = true
    })
    // Owned or used here meanwhile: kept.
    if (kept || placement.owns(key) || this.#o.proxies.has(key) || !this.#o.holds(key)) return
    this.#o.drop(key)
    repair.unconfirm(key)
    this.#o.counters.copiesDropped++
  }
}
