/**
 * Requests waiting for a session's copy to reach a rank (read-your-writes): each waits until the
 * manager says the copy of its session ranks at least what the client saw (`wake`), the session is
 * given up (`giveUp`: gone, or no member holds that state), or its deadline passes. Past `slowMs` a
 * waiter that still waits calls its `slow` hook once (the manager then fetches the copy).
 *
 * Bounds: at most maxPerSession waiters per session and maxTotal per context; beyond, `wait`
 * answers 'full' at once (the request is served with the copy held, and counted).
 */
import { compareRank, type Rank } from './rank.ts'
import { keyOf } from './store.ts'

/** How a wait ended: the copy caught up, the wait was given up or timed out, or no room to wait. */
export type WaitEnd = 'caught-up' | 'given-up' | 'timeout' | 'full'

interface Waiter {
  want: Rank
  done(end: WaitEnd): void
}

export class VersionWaiters {
  readonly #maxPerSession: number
  readonly #maxTotal: number
  readonly #waiting = new Map<string, Set<Waiter>>()
  #count = 0

  constructor(options: { maxPerSession?: number; maxTotal?: number } = {}) {
    this.#maxPerSession = options.maxPerSession ?? 64
    this.#maxTotal = options.maxTotal ?? 10_000
  }

  /** Requests waiting now. */
  get size(): number {
    return this.#count
  }

  /** Waits for session `key`'s copy to rank at least `want`; `slow` runs once after `slowMs`. */
  wait(
    key: string,
    want: Rank,
    o: { timeoutMs: number; slowMs: number; slow: () => void },
  ): Promise<WaitEnd> {
    let set = this.#waiting.get(key)
    if (this.#count >= this.#maxTotal || (set?.size ?? 0) >= this.#maxPerSession)
      return Promise.resolve('full')
    if (!set) {
      set = new Set()
      this.#waiting.set(key, set)
    }
    const list = set
    this.#count++
    return new Promise<WaitEnd>((resolve) => {
      const slow = o.slowMs < o.timeoutMs ? setTimeout(o.slow, o.slowMs) : undefined
      const deadline = setTimeout(() => waiter.done('timeout'), o.timeoutMs)
      const waiter: Waiter = {
        want,
        done: (end) => {
          if (!list.delete(waiter)) return
          this.#count--
          if (list.size === 0 && this.#waiting.get(key) === list) this.#waiting.delete(key)
          clearTimeout(slow)
          clearTimeout(deadline)
          resolve(end)
        },
      }
      list.add(waiter)
    })
  }

  /** The copy of session `key` now ranks `rank`: the waiters it satisfies go on. */
  wake(key: string, rank: Rank): void {
    const set = this.#waiting.get(key)
    if (!set) return
    for (const w of [...set]) if (compareRank(rank, w.want) >= 0) w.done('caught-up')
  }

  /** The copy held of session `copy.id` now ranks as it does (no key is made while none waits). */
  wakeCopy(copy: Rank & { readonly id: string }): void {
    if (this.#count > 0) this.wake(keyOf(copy.id), copy)
  }

  /** Nothing more will come for session `key` (gone, or nobody holds what its waiters want). */
  giveUp(key: string): void {
    const set = this.#waiting.get(key)
    if (!set) return
    for (const w of [...set]) w.done('given-up')
  }

  /** Ends every wait (the manager stops). */
  clear(): void {
    for (const key of [...this.#waiting.keys()]) this.giveUp(key)
  }
}
