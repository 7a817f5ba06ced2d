import type { Session } from './session.ts'

/**
 * Sessions by id, where the id's route suffix (".n1" in "ABC123.n1") does not matter: after a
 * fail-over the JvmRouteBinder gives a session a new route, and a client still sending the old one
 * must find the same session on every node.
 */
export const keyOf = (id: string): string => {
  const dot = id.indexOf('.')
  return dot < 0 ? id : id.slice(0, dot)
}

export class SessionStore {
  readonly #map = new Map<string, Session>()
  /**
   * The id last looked up and what it found (forgotten at every set and delete): a request looks
   * its session up three times (read-your-writes, the valve, the delta) and a replicated change as
   * many, each a slice of the id and a hash of the slice otherwise.
   */
  #lastId: string | undefined
  #last: Session | undefined

  get size(): number {
    return this.#map.size
  }
  get(id: string): Session | undefined {
    if (id === this.#lastId) return this.#last
    const s = this.#map.get(keyOf(id))
    this.#lastId = id
    this.#last = s
    return s
  }
  has(id: string): boolean {
    return this.get(id) !== undefined
  }
  set(id: string, session: Session): void {
    this.#forget()
    this.#map.set(keyOf(id), session)
  }
  delete(id: string): boolean {
    this.#forget()
    return this.#map.delete(keyOf(id))
  }
  keys(): IterableIterator<string> {
    return this.#map.keys()
  }
  values(): IterableIterator<Session> {
    return this.#map.values()
  }
  /** Sessions by key (an id without its route). */
  entries(): IterableIterator<[string, Session]> {
    return this.#map.entries()
  }

  #forget(): void {
    this.#lastId = undefined
    this.#last = undefined
  }
}
