/**
 * Deploys and undeploys on one member run one at a time: a queue of tasks, where a name waits at most
 * once (`schedule`: its task realizes the latest entry of the name when it runs, so a name scheduled
 * again before its task ran is not queued twice). A task that fails does not stop the ones after it.
 */
export class DeployQueue {
  readonly #realize: (name: string) => Promise<void>
  readonly #pending = new Set<string>()
  #tail: Promise<void> = Promise.resolve()

  /** `realize`: makes this member run the current entry of a name. */
  constructor(realize: (name: string) => Promise<void>) {
    this.#realize = realize
  }

  /** Queues the realization of `name`, unless it waits already. */
  schedule(name: string): void {
    if (this.#pending.has(name)) return
    this.#pending.add(name)
    void this.exclusive(async () => {
      this.#pending.delete(name)
      await this.#realize(name)
    })
  }

  /** Runs `task` after the tasks queued before it; settles as it does. */
  exclusive(task: () => Promise<void>): Promise<void> {
    const run = this.#tail.then(task)
    this.#tail = run.catch(() => {})
    return run
  }

  /** Resolves once no deploy is queued or running. */
  async idle(): Promise<void> {
    let seen: Promise<void> | undefined
    while (seen !== this.#tail) {
      seen = this.#tail
      await seen
    }
  }

  /** Resolves once the tasks queued so far have run (not those queued later). */
  settled(): Promise<void> {
    return this.#tail
  }
}
