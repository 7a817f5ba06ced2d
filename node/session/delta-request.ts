/**
 * The change log of one request (Tomcat's DeltaRequest): attribute sets and removes, max inactive
 * interval, principal and auth type. By default the last action per attribute wins; with
 * recordAllActions every action is kept in order. Between requests it holds nothing (its lists are
 * made on the first action), so a member that served many sessions keeps no empty logs.
 * applyActions plays such actions on a session (Tomcat's DeltaRequest.execute): a replicated delta's
 * on the copy held, or a request's on the copy that replaced its session while it ran.
 */
import type { Session } from './session.ts'

export type DeltaAction =
  | ['set', string, unknown]
  | ['remove', string]
  | ['maxInactive', number]
  | ['principal', string | undefined, string | undefined]

/** What drain() gives when nothing was recorded (shared, frozen). */
const NONE = Object.freeze([]) as unknown as DeltaAction[]

export class DeltaRequest {
  readonly #recordAll: boolean
  #actions: DeltaAction[] | undefined
  /**
   * What each action is about, by position: an attribute's name, or MAX_INACTIVE / PRINCIPAL (numbers,
   * so no attribute name can match them). Searched linearly while a request has recorded few actions
   * (no Map to make per request); past SMALL, #index says where each one's latest action is.
   */
  #about: Array<string | number> | undefined
  #index: Map<string | number, number> | undefined

  constructor(recordAllActions: boolean) {
    this.#recordAll = recordAllActions
  }

  get empty(): boolean {
    return this.#actions === undefined
  }

  set(name: string, value: unknown): void {
    this.#record(name, ['set', name, value])
  }
  remove(name: string): void {
    this.#record(name, ['remove', name])
  }
  maxInactive(seconds: number): void {
    this.#record(MAX_INACTIVE, ['maxInactive', seconds])
  }
  principal(principal: string | undefined, authType: string | undefined): void {
    this.#record(PRINCIPAL, ['principal', principal, authType])
  }
  /** Records an action already made elsewhere (a batch merging the logs of two requests). */
  record(action: DeltaAction): void {
    if (action[0] === 'set') this.set(action[1], action[2])
    else if (action[0] === 'remove') this.remove(action[1])
    else if (action[0] === 'maxInactive') this.maxInactive(action[1])
    else this.principal(action[1], action[2])
  }
  touches(name: string): boolean {
    return this.#at(name) >= 0
  }

  /** Takes the recorded actions and starts a new, empty log. */
  drain(): DeltaAction[] {
    const out = this.#actions ?? NONE
    this.#actions = undefined
    this.#about = undefined
    this.#index = undefined
    return out
  }

  #at(about: string | number): number {
    if (this.#index) return this.#index.get(about) ?? -1
    return this.#about ? this.#about.lastIndexOf(about) : -1
  }

  #record(about: string | number, action: DeltaAction): void {
    if (this.#actions === undefined || this.#about === undefined) {
      this.#actions = [action]
      this.#about = [about]
      return
    }
    const at = this.#recordAll ? -1 : this.#at(about)
    if (at >= 0) {
      this.#actions[at] = action
      return
    }
    this.#actions.push(action)
    this.#about.push(about)
    if (this.#index) this.#index.set(about, this.#about.length - 1)
    else if (this.#about.length > SMALL) {
      const index = new Map<string | number, number>()
      for (let i = 0; i < this.#about.length; i++) index.set(this.#about[i] as string | number, i)
      this.#index = index
    }
  }
}

/**
 * Applies a delta's actions to a session (checked before, when they came from another member);
 * `changed` hears of each attribute set or removed.
 */
export function applyActions(
  s: Session,
  actions: DeltaAction[],
  changed?: ((s: Session, name: string) => void) | undefined,
): void {
  for (const a of actions) {
    if (a[0] === 'set') s.applySet(a[1], a[2])
    else if (a[0] === 'remove') s.applyRemove(a[1])
    else if (a[0] === 'maxInactive') s.maxInactiveInterval = a[1]
    else if (a[0] === 'principal') {
      s.principal = a[1]
      s.authType = a[2]
    }
    if (changed && (a[0] === 'set' || a[0] === 'remove')) changed(s, a[1])
  }
}

/** Actions a request records before an index replaces the linear search. */
const SMALL = 16
const MAX_INACTIVE = 0
const PRINCIPAL = 1
