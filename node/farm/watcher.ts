/**
 * Tomcat's WarWatcher: looks at the farm's watchDir every interval and reports the archives
 * (`<name>.tgz` / `<name>.tar.gz`, hidden entries skipped, symbolic links followed — a Kubernetes
 * projected volume is links) that were added, modified or removed since the last look.
 *
 * A new or modified archive is reported only once its size and modification time stayed the same for
 * one interval (a file still being copied in is not taken half-written); one found at the first look
 * is reported at once, with its modification time. A removal is reported at once. Checks never
 * overlap: the next one starts an interval after the previous one's changes were handled. A directory
 * that cannot be read is logged (CATTERY_ERR_FARM_WATCH_DIR) and looked at again next time.
 */
import { readdir, stat } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from 'pino'
import { appNameOf } from '../server/context-name.ts'
import { codes } from '../tribes/errors.ts'

export interface Seen {
  mtimeMs: number
  size: number
}

export type WatchChange =
  | { kind: 'added' | 'modified'; name: string; file: string; mtimeMs: number; initial: boolean }
  | { kind: 'removed'; name: string; file: string }

const ARCHIVE = /\.(tgz|tar\.gz)$/

/**
 * The changes between two looks (pure). `previous`: what was reported last; `pending`: what the last
 * look saw and has not reported yet (it was not stable); `now`: this look. Returns the changes and
 * what to keep as pending.
 */
export function diff(
  previous: ReadonlyMap<string, Seen>,
  pending: ReadonlyMap<string, Seen>,
  now: ReadonlyMap<string, Seen>,
  initial: boolean,
): {
  changes: Array<{ kind: 'added' | 'modified' | 'removed'; file: string; seen?: Seen }>
  pending: Map<string, Seen>
} {
  const changes: Array<{ kind: 'added' | 'modified' | 'removed'; file: string; seen?: Seen }> = []
  const nextPending = new Map<string, Seen>()
  const same = (a: Seen | undefined, b: Seen | undefined) =>
    !!a && !!b && a.mtimeMs === b.mtimeMs && a.size === b.size
  for (const [file, seen] of now) {
    const before = previous.get(file)
    if (same(before, seen)) continue
    if (initial || same(pending.get(file), seen))
      changes.push({ kind: before ? 'modified' : 'added', file, seen })
    else nextPending.set(file, seen)
  }
  for (const file of previous.keys()) if (!now.has(file)) changes.push({ kind: 'removed', file })
  return { changes, pending: nextPending }
}

export class WarWatcher {
  readonly #dir: string
  readonly #intervalMs: number
  readonly #onChange: (change: WatchChange) => Promise<void>
  readonly #logger: Logger
  #reported = new Map<string, Seen>()
  #pending = new Map<string, Seen>()
  #first = true
  #timer: NodeJS.Timeout | undefined
  #stopped = false
  #lastProblem = ''

  constructor(
    dir: string,
    intervalMs: number,
    onChange: (change: WatchChange) => Promise<void>,
    logger: Logger,
  ) {
    this.#dir = dir
    this.#intervalMs = intervalMs
    this.#onChange = onChange
    this.#logger = logger
  }

  /** One look now (the first one is awaited at start, before the node is ready); then every interval. */
  async check(): Promise<void> {
    let now: Map<string, Seen>
    try {
      now = await this.#look()
      this.#lastProblem = ''
    } catch (err) {
      const problem = (err as Error).message
      if (problem !== this.#lastProblem)
        this.#logger.error(
          { event: 'farm-watch-dir', code: codes.FARM_WATCH_DIR, dir: this.#dir, err: problem },
          'cannot read the farm watch directory (farm.watchDir); looking again at the next check',
        )
      this.#lastProblem = problem
      return
    }
    const initial = this.#first
    this.#first = false
    const { changes, pending } = diff(this.#reported, this.#pending, now, initial)
    this.#pending = pending
    for (const c of changes) {
      const name = appNameOf(c.file)
      const file = path.join(this.#dir, c.file)
      if (c.kind === 'removed') this.#reported.delete(c.file)
      else this.#reported.set(c.file, c.seen as Seen)
      const change: WatchChange =
        c.kind === 'removed'
          ? { kind: 'removed', name, file }
          : { kind: c.kind, name, file, mtimeMs: (c.seen as Seen).mtimeMs, initial }
      try {
        await this.#onChange(change)
      } catch (err) {
        // The deployer logged and reported it; a later modification of the file is tried again.
        this.#logger.debug({ file, err: (err as Error).message }, 'farm watch change not deployed')
      }
    }
  }

  start(): void {
    const tick = () => {
      if (this.#stopped) return
      void this.check().finally(() => {
        if (!this.#stopped) this.#timer = setTimeout(tick, this.#intervalMs)
      })
    }
    this.#timer = setTimeout(tick, this.#intervalMs)
  }

  stop(): void {
    this.#stopped = true
    clearTimeout(this.#timer)
  }

  async #look(): Promise<Map<string, Seen>> {
    const seen = new Map<string, Seen>()
    for (const f of await readdir(this.#dir)) {
      if (f.startsWith('.') || !ARCHIVE.test(f)) continue
      const s = await stat(path.join(this.#dir, f)).catch(() => undefined)
      if (s?.isFile()) seen.set(f, { mtimeMs: s.mtimeMs, size: s.size })
    }
    return seen
  }
}
