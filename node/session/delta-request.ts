/**
 * The change log of one request (Tomcat's DeltaRequest): attribute sets and removes, max inactive
 * interval, principal and auth type. By default the last action per attribute wins; with
 * recordAllActions every action is kept in order.
 */
export type DeltaAction =
  | ['set', string, unknown]
  | ['remove', string]
  | ['maxInactive', number]
  | ['principal', string | undefined, string | undefined]

export class DeltaRequest {
  readonly #recordAll: boolean
  #actions: DeltaAction[] = []
  readonly #index = new Map<string, number>()

  constructor(recordAllActions: boolean) {
    this.#recordAll = recordAllActions
  }

  get empty(): boolean {
    return this.#actions.length === 0
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
    return this.#index.has(`a:${name}`)
  }

  /** Takes the recorded actions and starts a new, empty log. */
  drain(): DeltaAction[] {
    const out = this.#actions
    this.#actions = []
    this.#index.clear()
    return out
  }

  #record(key: string, action: DeltaAction): void {
    const at = this.#index.get(key)
    if (at !== undefined && !this.#recordAll) {
      this.#actions[at] = action
      return
    }
    this.#index.set(key, this.#actions.length)
    this.#actions.push(action)
  }
}
