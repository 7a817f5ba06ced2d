/**
 * What the watch directory's changes (watcher.ts) do to the farm: an archive found or modified there
 * is deployed on every member — one found at the first look stamped with its modification time, so it
 * does not win over a newer deploy the cluster holds; an archive removed from there undeploys its
 * application everywhere, but only while the farm still holds the digest that file deployed (a later
 * upload of the same name stays).
 */
import type { Logger } from 'pino'
import type { WatchChange } from './watcher.ts'

export interface WatchedDeploysOptions {
  logger: Logger
  /** Deploys the archive `file` as `name` on every member; resolves with its digest. */
  deploy: (name: string, file: string, o: { stamp?: number }) => Promise<{ digest: string }>
  /** Undeploys `name` on every member. */
  undeploy: (name: string) => Promise<void>
  /** The digest the farm holds for `name` (null: undeployed; undefined: never heard of). */
  current: (name: string) => string | null | undefined
}

export class WatchedDeploys {
  readonly #o: WatchedDeploysOptions
  /** The digest each watched file held when it was deployed, by name. */
  readonly #watched = new Map<string, string>()

  constructor(o: WatchedDeploysOptions) {
    this.#o = o
  }

  /** Handles one change; rejects as the deploy or undeploy does. */
  async change(c: WatchChange): Promise<void> {
    const { logger } = this.#o
    if (c.kind === 'removed') {
      const deployed = this.#watched.get(c.name)
      this.#watched.delete(c.name)
      if (!deployed || this.#o.current(c.name) !== deployed) return
      logger.info(
        { event: 'farm-watch-removed', app: c.name, file: c.file },
        'watched archive removed: undeploying',
      )
      await this.#o.undeploy(c.name)
      return
    }
    logger.info(
      { event: 'farm-watch-change', app: c.name, file: c.file, kind: c.kind },
      'watched archive found',
    )
    const r = await this.#o.deploy(c.name, c.file, c.initial ? { stamp: Math.floor(c.mtimeMs) } : {})
    this.#watched.set(c.name, r.digest)
  }
}
