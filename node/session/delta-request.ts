/**
 * The change log of one request (Tomcat's DeltaRequest): attribute sets and removes, max inactive
 * interval, principal and auth type. By default the last action per attribute wins; with
 * recordAllActions every action is kept in order. Between requests it holds nothing (its list and
 * index are made on the first action), so a member that served many sessions keeps no empty logs.
 */
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
  #index: Map<string, number> | undefined

  constructor(recordAllActions: boolean) {
    this.#recordAll = recordAllActions
  }

  get empty(): boolean {
    return this.#actions === undefined
  }

  set(name: string, value: unknown): void {
    this.#record(`a:${name}`, ['set', name, value])
  }
  remove(name: string): void {
    this.#record(`a:${name}`, ['remove', name])
  }
  maxInactive(seconds: number): void {
    this.#record('m', ['maxInactive', seconds])
  }
  principal(principal: string | undefined, authType: string | undefined): void {
    this.#record('p', ['principal', principal, authType])
  }
  touches(name: string): boolean {
    return this.#index?.has(`a:${name}`) ?? false
  }

  /** Takes the recorded actions and starts a new, empty log. */
  drain(): DeltaAction[] {
    const out = this.#actions ?? NONE
    this.#actions = undefined
    this.#index = undefined
    return out
  }

  #record(key: string, action: DeltaAction): void {
    this.#actions ??= []
    this.#index ??= new Map()
    const actions = this.#actions
    const index = this.#index
    const at = index.get(key)
    if (at !== undefined && !this.#recordAll) {
      actions[at] = action
      return
    }
    index.set(key, actions.length)
    actions.push(action)
  }
}
