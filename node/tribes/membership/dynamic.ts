/** A list of member addresses that may change at runtime (fed by configuration, Kubernetes, a test). */
export interface MemberAddress {
  host: string
  port: number
}

export interface DynamicMembershipSource {
  /** Calls `onChange` with the current list at once and after every change; returns an unsubscribe. */
  subscribe(onChange: (addresses: MemberAddress[]) => void): () => void
  /** Resolves once the first list is known (membership starts only then); absent: known at once. */
  ready?(): Promise<void>
  /** Stops watching. */
  close?(): void
  /** This member became ready (it holds the cluster's sessions) or stopped being ready. */
  localReady?(ready: boolean): void
}

/** A source whose list is set by its owner: static configuration, or anything that calls `set`. */
export class AddressList implements DynamicMembershipSource {
  #addresses: MemberAddress[]
  readonly #listeners = new Set<(addresses: MemberAddress[]) => void>()

  constructor(addresses: MemberAddress[] = []) {
    this.#addresses = [...addresses]
  }

  get addresses(): MemberAddress[] {
    return [...this.#addresses]
  }

  set(addresses: MemberAddress[]): void {
    this.#addresses = [...addresses]
    for (const l of this.#listeners) l(this.addresses)
  }

  subscribe(onChange: (addresses: MemberAddress[]) => void): () => void {
    this.#listeners.add(onChange)
    onChange(this.addresses)
    return () => this.#listeners.delete(onChange)
  }
}
