/**
 * The BackupManager's proxy copies (backup-manager.ts): copies of sessions a member received while
 * it did not own them (most often fetched for a request, session-fetch.ts), and when each was last
 * used. A proxy is kept PROXY_TTL_MS after its last use, so a client whose
 * balancer keeps it on this member does not fetch on every request; past it, or beyond the
 * MAX_PROXIES most recently used, a repair pass (repair-pass.ts) drops it once its owners hold it.
 *
 * Bounds: one entry per copy held; an entry of a copy that is no proxy any more (dropped, or owned
 * under the view) is forgotten at the next pass; more than MAX_PROXIES asks for a pass soon.
 */
import type { PlacementView } from './placement.ts'

/** A proxy copy is kept this long after its last use. */
export const PROXY_TTL_MS = 5_000
/** Proxy copies per context, at most (the least recently used is dropped first, through repair). */
export const MAX_PROXIES = 10_000

export interface ProxyCopiesOptions {
  /** Whether this member holds a copy of `key` it does not own under `view`. */
  isProxy(key: string, view: PlacementView): boolean
  /** There are more than MAX_PROXIES: a repair pass is to drop the least recently used soon. */
  tooMany(): void
}

export class ProxyCopies {
  readonly #o: ProxyCopiesOptions
  /** When each proxy copy was last used, ms. Oldest use first. */
  readonly #lastUse = new Map<string, number>()

  constructor(options: ProxyCopiesOptions) {
    this.#o = options
  }

  has(key: string): boolean {
    return this.#lastUse.has(key)
  }

  /** The proxy copy of `key` was used (or arrived) at `now`: it is the most recently used. */
  used(key: string, now: number): void {
    this.#lastUse.delete(key)
    this.#lastUse.set(key, now)
    if (this.#lastUse.size > MAX_PROXIES) this.#o.tooMany()
  }

  /** Forgets the entry of `key` (its copy dropped or renamed): whether there was one. */
  forget(key: string): boolean {
    return this.#lastUse.delete(key)
  }

  /**
   * Which proxy copies are in use at `now`: used within their lifetime, and among the MAX_PROXIES
   * most recently used. An entry of a copy that is no proxy under `view` (owned, or held no more) is
   * forgotten: left in the list, past its lifetime it would make every tick run a pass.
   */
  inUse(view: PlacementView, now: number): Map<string, boolean> {
    for (const key of this.#lastUse.keys()) if (!this.#o.isProxy(key, view)) this.#lastUse.delete(key)
    const lru = this.#lastUse.size - MAX_PROXIES
    let i = 0
    const inUse = new Map<string, boolean>()
    for (const [key, at] of this.#lastUse) inUse.set(key, i++ >= lru && now - at <= PROXY_TTL_MS)
    return inUse
  }

  /** Is a proxy copy past its lifetime at `now`? */
  expired(now: number): boolean {
    const oldest = this.#lastUse.values().next().value
    return oldest !== undefined && now - oldest > PROXY_TTL_MS
  }

  /**
   * Whether a copy repair decided to drop is kept: a proxy used again within its lifetime at `now`,
   * while the proxies are not too many.
   */
  keeps(key: string, now: number): boolean {
    const at = this.#lastUse.get(key)
    return at !== undefined && now - at <= PROXY_TTL_MS && this.#lastUse.size <= MAX_PROXIES
  }
}
