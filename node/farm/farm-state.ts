/**
 * What the farm wants deployed, per application name, and how members agree on it (pure).
 *
 * An entry is one deploy (a digest) or one undeploy (digest null: a tombstone, so a member that comes
 * back with the application learns it was removed). Every member merges the entries it hears with the
 * same rule, so all converge on one entry per name whatever order they hear them in:
 *
 *   the entry with the larger `stamp` wins; at equal stamps, the larger digest (a tombstone's is the
 *   empty string, so a deploy beats an undeploy of the same instant).
 *
 * An entry with the digest already held only raises the stamp (no redeploy). A member that deploys
 * stamps with max(now, stamp held + 1) (`nextStamp`), so a new deploy wins over everything that member
 * knows even when its clock is behind the one that stamped the current entry.
 *
 * Bound: MAX_ENTRIES names (deployed and tombstones). At the bound the oldest tombstone is forgotten;
 * when every entry is a live application, a new name is refused (CATTERY_ERR_FARM_TOO_MANY).
 */
import { contextPathOf } from '../server/context-name.ts'
import { CatteryError, codes } from '../tribes/errors.ts'

export interface FarmEntry {
  name: string
  /** SHA-256 of the archive, 64 hex digits; null: the application is undeployed. */
  digest: string | null
  /** The archive's size in bytes (0 for an undeploy). */
  size: number
  /** The deploy stamp (ms since the epoch, raised past the entry it replaced). */
  stamp: number
  /** The member the deploy or undeploy came from. */
  origin: string
}

export const MAX_ENTRIES = 1000

const DIGEST = /^[0-9a-f]{64}$/

/** Whether `a` wins over `b` (the convergence rule above). Equal entries do not win. */
export function wins(
  a: Pick<FarmEntry, 'stamp' | 'digest'>,
  b: Pick<FarmEntry, 'stamp' | 'digest'>,
): boolean {
  if (a.stamp !== b.stamp) return a.stamp > b.stamp
  return (a.digest ?? '') > (b.digest ?? '')
}

/** adopt: the entry replaces what is held (deploy or undeploy); restamp: same digest, newer stamp; ignore. */
export type MergeOutcome = 'adopt' | 'restamp' | 'ignore'

export function mergeOutcome(held: FarmEntry | undefined, incoming: FarmEntry): MergeOutcome {
  if (!held) return 'adopt'
  if (held.digest === incoming.digest) return incoming.stamp > held.stamp ? 'restamp' : 'ignore'
  return wins(incoming, held) ? 'adopt' : 'ignore'
}

/** A received entry, checked (hostile or foreign data gives undefined). */
export function entryFromWire(x: unknown): FarmEntry | undefined {
  if (typeof x !== 'object' || x === null) return undefined
  const e = x as Record<string, unknown>
  if (typeof e.name !== 'string' || !contextPathOf(e.name)) return undefined
  if (e.digest !== null && (typeof e.digest !== 'string' || !DIGEST.test(e.digest))) return undefined
  if (!Number.isSafeInteger(e.size) || (e.size as number) < 0) return undefined
  if (!Number.isSafeInteger(e.stamp) || (e.stamp as number) < 0) return undefined
  if (typeof e.origin !== 'string' || e.origin.length > 253) return undefined
  return {
    name: e.name,
    digest: e.digest as string | null,
    size: e.size as number,
    stamp: e.stamp as number,
    origin: e.origin,
  }
}

export const isDigest = (s: unknown): s is string => typeof s === 'string' && DIGEST.test(s)

/** The entries a member holds, merged by the rule above. */
export class FarmTable {
  readonly #entries = new Map<string, FarmEntry>()

  get(name: string): FarmEntry | undefined {
    return this.#entries.get(name)
  }

  /** Every entry, tombstones included (what a member tells the others). */
  all(): FarmEntry[] {
    return [...this.#entries.values()]
  }

  /** The deployed applications. */
  live(): FarmEntry[] {
    return this.all().filter((e) => e.digest !== null)
  }

  /** A stamp for a new deploy of `name` by this member: wins over the entry held. */
  nextStamp(name: string, now = Date.now()): number {
    return Math.max(now, (this.#entries.get(name)?.stamp ?? 0) + 1)
  }

  /** Merges `incoming`; throws CATTERY_ERR_FARM_TOO_MANY when a new name does not fit. */
  merge(incoming: FarmEntry): MergeOutcome {
    const held = this.#entries.get(incoming.name)
    const outcome = mergeOutcome(held, incoming)
    if (outcome === 'ignore') return outcome
    if (!held && this.#entries.size >= MAX_ENTRIES) this.#makeRoom(incoming.name)
    this.#entries.set(
      incoming.name,
      outcome === 'restamp' && held ? { ...held, stamp: incoming.stamp } : incoming,
    )
    return outcome
  }

  #makeRoom(name: string): void {
    let oldest: FarmEntry | undefined
    for (const e of this.#entries.values())
      if (e.digest === null && (!oldest || e.stamp < oldest.stamp)) oldest = e
    if (!oldest)
      throw new CatteryError(
        codes.FARM_TOO_MANY,
        `application ${name}: the farm already holds ${MAX_ENTRIES} applications`,
      )
    this.#entries.delete(oldest.name)
  }
}
