/**
 * The BackupManager's repair passes (backup-manager.ts): when one runs, and running it. repair.ts
 * decides, as a pure function, which copies go where and which are dropped; a pass here sends them
 * (the manager's pusher), retries what failed, and has the manager drop what every owner confirmed.
 *
 * A pass is due REPAIR_DELAY_MS after a membership change; on the manager's tick once the view
 * settled (SETTLE_MS) and is not yet the base of comparison, while failed pushes wait, every
 * FULL_PASS_MS, and when a proxy copy is past its lifetime or the proxies are too many. One pass runs
 * at a time: one asked for meanwhile runs right after it.
 *
 * Bounds: #pushed, #retry and #confirmed hold at most one entry per copy held (#pushed is cleared
 * when a view becomes the base; #retry at each pass).
 */
import type { Logger } from 'pino'
import type { Member } from '../tribes/member.ts'
import type { PlacementView } from './placement.ts'
import { type HeldCopy, planRepair, type RepairAction } from './repair.ts'

/** A repair pass runs at most this often, and this long after a membership change. */
const REPAIR_DELAY_MS = 250
/**
 * A view is taken as the base of the next pass's comparison only once it held this long: a member
 * that left and was the one to send copies (the lead, repair.ts) may not have been noticed gone by
 * every member yet; until then passes compare with the last settled view, so a member whose lead
 * died meanwhile acts as the lead.
 */
const SETTLE_MS = 3_000
/** A full pass runs at least this often (copies held against a view that changed under them). */
const FULL_PASS_MS = 30_000

export interface RepairPassOptions {
  logger: Logger
  /** 1 + backups. */
  copies: number
  /** This member's writer id. */
  self(): string
  /** The placement view now (this member in it). */
  view(): PlacementView
  member(id: string): Member | undefined
  /** The keys of the copies held. */
  keys(): Iterable<string>
  /** Pushes copies to a member; resolves with those it confirmed. */
  push(to: Member, keys: Iterable<string>): Promise<Set<string>>
  /**
   * Which proxy copies are in use at `now` (within their lifetime and the most recently used
   * allowed); entries that are no proxy under `view` are forgotten first.
   */
  proxiesInUse(view: PlacementView, now: number): Map<string, boolean>
  /** Is a proxy copy past its lifetime at `now`? */
  proxyExpired(now: number): boolean
  /** Drops the copy of `key` unless this member owns it or uses it again; true when it was dropped. */
  drop(key: string): boolean
  /** The manager's placement counters this counts passes and their time in. */
  counters: { repairPasses: number; lastRepairMs: number }
}

export class RepairPass {
  readonly #o: RepairPassOptions
  /** The last settled view (SETTLE_MS) whose repair pass completed: passes compare with it. */
  #before: PlacementView | undefined
  /** The current view's member list, and since when it holds. */
  #viewSig = ''
  #viewSince = 0
  /** Copies confirmed by their new owners since #before was set (not sent twice). */
  readonly #pushed = new Map<string, Set<string>>()
  /** Copies whose last write here every owner acknowledged, under which view. */
  readonly #confirmed = new Map<string, string>()
  /** Pushes that failed: sent again at the next pass. */
  readonly #retry = new Map<string, Set<string>>()
  #pass: Promise<void> | undefined
  #passDue = false
  #lastFull = 0
  #stopping = false

  constructor(options: RepairPassOptions) {
    this.#o = options
  }

  /** The last settled view whose pass completed, if any. */
  get settledView(): PlacementView | undefined {
    return this.#before
  }

  /** The manager started: the view holds from now, and so does the last full pass. */
  start(): void {
    this.#noteView()
    this.#lastFull = Date.now()
  }

  /** No pass starts any more; resolves once the running one, if any, ended. */
  stop(): Promise<void> | undefined {
    this.#stopping = true
    return this.#pass
  }

  /** The last repair pass was over this view, and none is due or running. */
  settled(): boolean {
    return (
      !this.#stopping &&
      this.#before !== undefined &&
      this.#before.equals(this.#o.view()) &&
      !this.#pass &&
      this.#retry.size === 0
    )
  }

  /** The view changed: a pass runs REPAIR_DELAY_MS from now. */
  viewChanged(): void {
    this.#noteView()
    this.#schedule(REPAIR_DELAY_MS)
  }

  /** A pass runs as soon as it can. */
  runSoon(): void {
    this.#schedule(0)
  }

  /**
   * The manager's tick: runs a pass when one is due. A member's readiness changes without a view
   * event: a joiner that became ready may now confirm copies others wait to drop.
   */
  tick(now: number): void {
    const view = this.#noteView()
    const unsettled = this.#before === undefined || !this.#before.equals(view)
    let due =
      (unsettled && now - this.#viewSince >= SETTLE_MS) ||
      this.#retry.size > 0 ||
      now - this.#lastFull > FULL_PASS_MS
    if (this.#o.proxyExpired(now)) due = true
    if (due) this.#schedule(0)
  }

  /** Every owner acknowledged the last write here of the copy of `key`, under the view now. */
  confirm(key: string): void {
    this.#confirmed.set(key, this.#o.view().members.join(','))
  }

  unconfirm(key: string): void {
    this.#confirmed.delete(key)
  }

  /** The copy of `key` goes to member `writer` with the next repair pass. */
  retryLater(key: string, writer: string): void {
    addTo(this.#retry, key, writer)
  }

  /** The view now; notes since when it holds. */
  #noteView(): PlacementView {
    const view = this.#o.view()
    const sig = view.members.join(',')
    if (sig !== this.#viewSig) {
      this.#viewSig = sig
      this.#viewSince = Date.now()
    }
    return view
  }

  #schedule(delay: number): void {
    if (this.#stopping) return
    this.#passDue = true
    if (this.#pass) return
    this.#pass = (async () => {
      await new Promise((r) => setTimeout(r, delay))
      while (this.#passDue && !this.#stopping) {
        this.#passDue = false
        try {
          await this.#repair()
        } catch (err) {
          this.#o.logger.warn({ err: (err as Error).message }, 'repair pass failed')
        }
      }
    })().finally(() => {
      this.#pass = undefined
    })
  }

  /** One repair pass over every copy held (repair.ts decides, this sends and drops). */
  async #repair(): Promise<void> {
    const started = Date.now()
    const after = this.#noteView()
    const before = this.#before
    const viewKey = after.members.join(',')
    const now = Date.now()
    const inUse = this.#o.proxiesInUse(after, now)
    const held = this.#held(this.#o.keys(), inUse, viewKey)
    const actions = planRepair({ self: this.#o.self(), before, after, copies: this.#o.copies }, held)
    this.#lastFull = now
    this.#o.counters.repairPasses++
    // Failed pushes of earlier passes are sent again.
    const byMember = new Map<string, Set<string>>()
    for (const [key, members] of this.#retry)
      for (const m of members) if (after.has(m)) addTo(byMember, m, key)
    this.#retry.clear()
    for (const a of actions)
      for (const m of a.to) if (!this.#pushed.get(a.key)?.has(m)) addTo(byMember, m, a.key)
    const failed = new Set<string>()
    await Promise.all(
      [...byMember].map(async ([id, keys]) => {
        const member = this.#o.member(id)
        if (!member) return
        const confirmed = await this.#o.push(member, keys)
        for (const k of confirmed) addTo(this.#pushed, k, id)
        for (const k of keys)
          if (!confirmed.has(k)) {
            failed.add(k)
            this.retryLater(k, id)
          }
      }),
    )
    this.#drop(actions, failed)
    if (failed.size === 0 && now - this.#viewSince >= SETTLE_MS && after.equals(this.#o.view())) {
      this.#before = after
      this.#pushed.clear()
    }
    this.#o.counters.lastRepairMs = Date.now() - started
    if (actions.length > 0)
      this.#o.logger.info(
        {
          actions: actions.length,
          members: after.members.length,
          failed: failed.size,
          ms: Date.now() - started,
        },
        'repair pass: session copies placed on their owners',
      )
  }

  *#held(keys: Iterable<string>, inUse: Map<string, boolean>, viewKey: string): Generator<HeldCopy> {
    for (const key of keys)
      yield { key, inUse: inUse.get(key) ?? false, confirmed: this.#confirmed.get(key) === viewKey }
  }

  /** Drops the copies repair decided to drop, once every push of theirs was confirmed. */
  #drop(actions: RepairAction[], failed: Set<string>): void {
    for (const a of actions) {
      if (!a.drop || failed.has(a.key)) continue
      if (this.#o.drop(a.key)) this.#confirmed.delete(a.key)
    }
  }
}

/** Adds `value` to the set `map` holds under `key`. */
function addTo(map: Map<string, Set<string>>, key: string, value: string): void {
  const set = map.get(key)
  if (set) set.add(value)
  else map.set(key, new Set([value]))
}
