/**
 * A work queue of object keys (namespace/name), as client-go's: a key is held once however often it is
 * added; a key being processed is not handed out again until it is done, and one added meanwhile is
 * processed once more after; a failed key comes back after an exponential back-off per key.
 * Bound: one entry per key, so the queue never holds more than the number of watched objects.
 */
export interface WorkQueueOptions {
  baseDelayMs?: number
  maxDelayMs?: number
}

export class WorkQueue {
  readonly #baseDelayMs: number
  readonly #maxDelayMs: number
  readonly #queue: string[] = []
  readonly #queued = new Set<string>()
  readonly #processing = new Set<string>()
  /** Keys added while being processed: they go back in when done. */
  readonly #dirty = new Set<string>()
  readonly #failures = new Map<string, number>()
  readonly #timers = new Map<string, NodeJS.Timeout>()
  readonly #waiters: Array<() => void> = []
  #shutDown = false

  constructor(options: WorkQueueOptions = {}) {
    this.#baseDelayMs = options.baseDelayMs ?? 100
    this.#maxDelayMs = options.maxDelayMs ?? 60_000
  }

  get length(): number {
    return this.#queue.length
  }

  add(key: string): void {
    if (this.#shutDown) return
    if (this.#processing.has(key)) {
      this.#dirty.add(key)
      return
    }
    if (this.#queued.has(key)) return
    this.#queued.add(key)
    this.#queue.push(key)
    this.#waiters.shift()?.()
  }

  /** Adds the key after a delay; while one is pending for the key, further calls are ignored. */
  addAfter(key: string, ms: number): void {
    if (this.#shutDown || this.#timers.has(key)) return
    const t = setTimeout(() => {
      this.#timers.delete(key)
      this.add(key)
    }, ms)
    t.unref()
    this.#timers.set(key, t)
  }

  /** After a failure: back-off doubling per consecutive failure of this key. Returns the delay. */
  addRateLimited(key: string): number {
    const n = this.#failures.get(key) ?? 0
    this.#failures.set(key, n + 1)
    const ms = Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** n)
    this.addAfter(key, ms)
    return ms
  }

  /** After a success: the key's back-off starts over. */
  forget(key: string): void {
    this.#failures.delete(key)
  }

  /** The next key, waiting for one; undefined once shut down. Call done(key) after processing. */
  async get(): Promise<string | undefined> {
    while (this.#queue.length === 0) {
      if (this.#shutDown) return undefined
      await new Promise<void>((resolve) => this.#waiters.push(resolve))
    }
    const key = this.#queue.shift() as string
    this.#queued.delete(key)
    this.#processing.add(key)
    return key
  }

  done(key: string): void {
    this.#processing.delete(key)
    if (this.#dirty.delete(key)) this.add(key)
  }

  shutDown(): void {
    this.#shutDown = true
    for (const t of this.#timers.values()) clearTimeout(t)
    this.#timers.clear()
    for (const w of this.#waiters.splice(0)) w()
  }
}
