/**
 * The BackupManager's placement view, cached (backup-manager.ts asks it several placement questions
 * per request): the channel's members that have this context started (map members, map-members.ts)
 * and are not stopping, and this one. The view is rebuilt only when the channel's view, the map, the
 * stopping members (their versions) or this member's id (set at start) changed, and the last
 * session's owners under it are remembered.
 *
 * Bounds: one view at a time; at most one stopping member per member of the channel's view (one that
 * leaves the view is forgotten, forgetGone).
 */
import type { Channel } from '../tribes/channel-types.ts'
import type { Member } from '../tribes/member.ts'
import { PlacementView } from './placement.ts'
import { writerOf } from './rank.ts'

export interface PlacementCacheOptions {
  channel: Pick<Channel, 'members' | 'viewVersion'>
  /** The map members (writer ids), with a version that changes whenever they do. */
  map: { readonly version: number; has(id: string): boolean }
  /** 1 + backups. */
  copies: number
  /** This member's writer id: '' before start. */
  self(): string
}

/** What this member is to a session it holds. */
export type Role = 'primary' | 'backup' | 'proxy'

interface CachedView {
  readonly channelVersion: number
  readonly leavingVersion: number
  readonly mapVersion: number
  /** This member's writer id: '' in a view made before start (a message routed here, /status). */
  readonly self: string
  readonly view: PlacementView
  readonly members: Map<string, Member>
  /** The session last asked about, and its owners under `view`. */
  lastKey: string | undefined
  lastOwners: readonly string[]
}

export class PlacementCache {
  readonly #o: PlacementCacheOptions
  /** The placement view, cached for the channel's view, the map and the stopping members it was made of. */
  #cached: CachedView | undefined
  /**
   * Members (writer ids) that announced they are stopping: out of placement. At most one entry per
   * member of the view (forgotten when it leaves the view).
   */
  readonly #leaving = new Set<string>()
  /** Counts the changes of #leaving (setLeaving): part of the view's cache key. */
  #leavingVersion = 0

  constructor(options: PlacementCacheOptions) {
    this.#o = options
  }

  /**
   * The view placement uses: the members seen now that have this context started (map members) and
   * are not stopping, and this one. Rebuilt only when the channel's view, the map, the stopping
   * members or this member's id changed.
   */
  view(): PlacementView {
    return this.#current().view
  }

  member(id: string): Member | undefined {
    return this.#current().members.get(id)
  }

  /** A session's owners (writer ids), its primary first. */
  owners(key: string): readonly string[] {
    const cached = this.#current()
    if (cached.lastKey !== key) {
      cached.lastOwners = cached.view.owners(key, this.#o.copies)
      cached.lastKey = key
    }
    return cached.lastOwners
  }

  /** Is this member one of a session's owners? */
  owns(key: string): boolean {
    return this.owners(key).includes(this.#o.self())
  }

  /** The other owners of a session, as members. */
  otherOwners(key: string): Member[] {
    const self = this.#o.self()
    const out: Member[] = []
    for (const id of this.owners(key)) {
      if (id === self) continue
      const m = this.member(id)
      if (m) out.push(m)
    }
    return out
  }

  roleIn(view: PlacementView, key: string): Role {
    const i = view.owners(key, this.#o.copies).indexOf(this.#o.self())
    return i === 0 ? 'primary' : i > 0 ? 'backup' : 'proxy'
  }

  isLeaving(id: string): boolean {
    return this.#leaving.has(id)
  }

  /** `id` stops (memberLeaving) or no longer does: out of placement, or back in. */
  setLeaving(id: string, leaving: boolean): boolean {
    if (this.#leaving.has(id) === leaving) return false
    if (leaving) this.#leaving.add(id)
    else this.#leaving.delete(id)
    this.#leavingVersion++
    return true
  }

  /** Forgets the stopping members that left the channel's view. */
  forgetGone(): void {
    if (this.#leaving.size === 0) return
    const ids = new Set(this.#o.channel.members().map((m) => writerOf(m)))
    for (const id of [...this.#leaving]) if (!ids.has(id)) this.setLeaving(id, false)
  }

  #current(): CachedView {
    const channelVersion = this.#o.channel.viewVersion
    const self = this.#o.self()
    const cached = this.#cached
    if (
      cached?.channelVersion === channelVersion &&
      cached.leavingVersion === this.#leavingVersion &&
      cached.mapVersion === this.#o.map.version &&
      cached.self === self
    )
      return cached
    const members: Member[] = []
    const ids: string[] = []
    for (const m of this.#o.channel.members()) {
      const id = writerOf(m)
      if (!this.#o.map.has(id) || this.#leaving.has(id)) continue
      members.push(m)
      ids.push(id)
    }
    this.#cached = {
      channelVersion,
      leavingVersion: this.#leavingVersion,
      mapVersion: this.#o.map.version,
      self,
      view: new PlacementView([...ids, self]),
      members: new Map(members.map((m, i) => [ids[i] as string, m])),
      lastKey: undefined,
      lastOwners: [],
    }
    return this.#cached
  }
}
