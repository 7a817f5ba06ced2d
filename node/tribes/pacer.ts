/**
 * Runs a flush at most once per `interval` ms: the first after a quiet spell at the end of the current
 * event-loop turn, later ones when the interval since the last run has passed, so under load the
 * work of many calls is done together; `afterTask()` asks for the end of the current task
 * regardless (a frame that waits for an ACK). The transport's outbox and the session batches pace
 * themselves with it, with the same interval (`sender.asyncWriteInterval`), so one batch is one
 * write.
 */
export class Pacer {
  readonly #interval: number
  readonly #run: () => void
  #immediate: NodeJS.Immediate | undefined
  #timer: NodeJS.Timeout | undefined
  #last = -Infinity
  #queued = false

  constructor(interval: number, run: () => void) {
    this.#interval = interval
    this.#run = run
  }

  /** Runs when the interval since the last run has passed (unless a run is already scheduled). */
  paced(): void {
    if (this.#immediate || this.#timer) return
    const wait = this.#last + this.#interval - performance.now()
    if (wait <= 0) this.#immediate = setImmediate(this.#fire)
    else this.#timer = setTimeout(this.#fire, wait)
  }

  /**
   * Runs once the current task's synchronous work is done (a microtask): what one call stack queued
   * leaves together, without waiting behind the rest of the turn (a frame that waits for an ACK: the
   * requests served meanwhile would otherwise delay it, and with it every request waiting for it).
   */
  afterTask(): void {
    if (this.#queued) return
    this.#queued = true
    queueMicrotask(this.#fireQueued)
  }

  /** Forgets what is scheduled (the owner ran its flush itself, or dropped what it held). */
  cancel(): void {
    if (this.#immediate) clearImmediate(this.#immediate)
    if (this.#timer) clearTimeout(this.#timer)
    this.#immediate = undefined
    this.#timer = undefined
    this.#queued = false
  }

  /** Records a run now: the next paced one waits a whole interval from here. */
  ran(): void {
    this.#last = performance.now()
  }

  readonly #fireQueued = () => {
    if (!this.#queued) return
    this.cancel()
    this.#run()
  }

  readonly #fire = () => {
    this.#immediate = undefined
    this.#timer = undefined
    this.#run()
  }
}
