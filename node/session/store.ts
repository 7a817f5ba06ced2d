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

  get size(): number {
    return this.#map.size
  }
  get(id: string): Session | undefined {
    return this.#map.get(keyOf(id))
  }
  has(id: string): boolean {
    return this.#map.has(keyOf(id))
  }
  set(id: string, session: Session): void {
    this.#map.set(keyOf(id), session)
  }
  delete(id: string): boolean {
    return this.#map.delete(keyOf(id))
  }
  keys(): IterableIterator<string> {
    return this.#map.keys()
  }
  values(): IterableIterator<Session> {
    return this.#map.values()
  }
}
