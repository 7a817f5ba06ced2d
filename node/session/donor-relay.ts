/**
 * The donor relay of state transfer: members learn of a joiner at different moments (a pod's address
 * reaches each peer through the API and a ping), so a peer that does not know the joiner yet sends a
 * change to the others only — after the donor took its snapshot, the joiner would never get it, serve
 * that session stale and write versions the others drop as duplicates. So from its snapshot until
 * RELAY_GRACE_MS after the transfer ends, the donor relays every change it receives to the joiner,
 * with the sender's send options (a synchronous sender waits for the joiner too); the joiner drops
 * what it already has by version. Bound: one entry per joiner being served, each dropped after the
 * grace period.
 */
import type { Channel } from '../tribes/channel-types.ts'
import { type Member, memberId } from '../tribes/member.ts'
import type { SessionMessage } from './messages.ts'

/** How long after its transfer a joiner still gets the changes the donor receives. */
export const RELAY_GRACE_MS = 10_000

export class DonorRelay {
  readonly #channel: Channel
  readonly #counters: { relayed: number; relayFailures: number }
  /** Joiners that get a copy of every change received, until when (Infinity while being served). */
  readonly #to = new Map<string, { member: Member; until: number }>()

  /** `counters` is where relays and their failures are counted (the transfer's, for /status). */
  constructor(channel: Channel, counters: { relayed: number; relayFailures: number }) {
    this.#channel = channel
    this.#counters = counters
  }

  /** The snapshot for `joiner` is being taken: relay to it from now on. */
  serving(joiner: Member): void {
    this.#to.set(memberId(joiner), { member: joiner, until: Number.POSITIVE_INFINITY })
  }

  /** The transfer to `joiner` ended: relay to it for RELAY_GRACE_MS more. */
  served(joiner: Member): void {
    const r = this.#to.get(memberId(joiner))
    if (r) r.until = Date.now() + RELAY_GRACE_MS
  }

  /**
   * Relays a change received from `from` to the joiners being served (not back to its sender).
   * Undefined when there are none, the common case; otherwise settles once every relay was
   * acknowledged as `sendOptions` asks or failed (a failure is counted, never the sender's problem).
   */
  relay(message: SessionMessage, from: Member, sendOptions: number): Promise<void> | undefined {
    if (this.#to.size === 0) return undefined
    const now = Date.now()
    const sender = memberId(from)
    const sends: Promise<void>[] = []
    for (const [id, r] of this.#to) {
      if (r.until < now) {
        this.#to.delete(id)
        continue
      }
      if (id === sender) continue
      this.#counters.relayed++
      sends.push(
        this.#channel.send(r.member, message, sendOptions).catch(() => {
          this.#counters.relayFailures++
        }),
      )
    }
    return sends.length ? Promise.all(sends).then(() => undefined) : undefined
  }
}
