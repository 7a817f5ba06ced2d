/**
 * A session's attributes, with a Map's semantics (insertion order, any string name). While there are
 * few they live in one flat [name, value, name, value, …] array: a replica holds every session of the
 * cluster, most with a handful of attributes, and a Map costs about 180 bytes even for one entry.
 * Above SMALL entries a Map takes over, where a linear search would cost more than it saves.
 */
const SMALL = 16
/** Shared by every map with no attribute; never written to (a change makes a new array). */
const EMPTY: unknown[] = Object.freeze([]) as unknown as unknown[]

export class AttributeMap {
  #list: unknown[] | undefined = EMPTY
  #map: Map<string, unknown> | undefined

  constructor(entries?: ReadonlyArray<readonly [string, unknown]>) {
    if (!entries?.length) return
    if (entries.length > SMALL) {
      this.#map = new Map(entries)
      this.#list = undefined
      return
    }
    // Sized exactly: an array grown by push reserves room for 16 more entries (~130 bytes).
    const list = new Array<unknown>(entries.length * 2)
    let n = 0
    for (const [k, v] of entries) {
      const i = n === 0 ? -1 : this.#indexIn(list, n, k)
      if (i >= 0) list[i + 1] = v
      else {
        list[n++] = k
        list[n++] = v
      }
    }
    list.length = n
    this.#list = list
  }

  get size(): number {
    return this.#map ? this.#map.size : (this.#list as unknown[]).length / 2
  }

  get(name: string): unknown {
    if (this.#map) return this.#map.get(name)
    const i = this.#indexOf(name)
    return i < 0 ? undefined : (this.#list as unknown[])[i + 1]
  }

  has(name: string): boolean {
    return this.#map ? this.#map.has(name) : this.#indexOf(name) >= 0
  }

  set(name: string, value: unknown): void {
    if (this.#map) {
      this.#map.set(name, value)
      return
    }
    const list = this.#list as unknown[]
    const i = this.#indexOf(name)
    if (i >= 0) {
      list[i + 1] = value
      return
    }
    if (list.length / 2 < SMALL) {
      this.#list = list.concat([name, value]) // sized exactly, as above
      return
    }
    this.#map = new Map(this.entries())
    this.#map.set(name, value)
    this.#list = undefined
  }

  delete(name: string): boolean {
    if (this.#map) return this.#map.delete(name)
    const list = this.#list as unknown[]
    const i = this.#indexOf(name)
    if (i < 0) return false
    this.#list = list.length === 2 ? EMPTY : list.slice(0, i).concat(list.slice(i + 2))
    return true
  }

  keys(): string[] {
    if (this.#map) return [...this.#map.keys()]
    const list = this.#list as unknown[]
    const out: string[] = []
    for (let i = 0; i < list.length; i += 2) out.push(list[i] as string)
    return out
  }

  /** [name, value] pairs in insertion order (a copy: the map may change while it is walked). */
  entries(): Array<[string, unknown]> {
    if (this.#map) return [...this.#map]
    const list = this.#list as unknown[]
    const out: Array<[string, unknown]> = []
    for (let i = 0; i < list.length; i += 2) out.push([list[i] as string, list[i + 1]])
    return out
  }

  /**
   * Calls `fn` with each value and name in insertion order, without copying them out; `fn` must not
   * change the map (entries() is for walks that do).
   */
  forEach(fn: (value: unknown, name: string) => void): void {
    if (this.#map) {
      this.#map.forEach(fn)
      return
    }
    const list = this.#list as unknown[]
    for (let i = 0; i < list.length; i += 2) fn(list[i + 1], list[i] as string)
  }

  #indexOf(name: string): number {
    const list = this.#list as unknown[]
    return this.#indexIn(list, list.length, name)
  }

  #indexIn(list: unknown[], length: number, name: string): number {
    for (let i = 0; i < length; i += 2) if (list[i] === name) return i
    return -1
  }
}
