/**
 * Pushing full copies of sessions to the members that own them (the BackupManager's repair after a
 * membership change, and a stopping member's hand-off), as `backup` messages with a synchronous
 * ACK: a send that succeeds means the receiver holds each copy at least at its rank (or knows the
 * session is gone), so the sender may drop its own.
 *
 * Bounds: a message carries at most `maxCount` sessions and at most the page budget of state
 * transfer (half of receiver.maxFrameBytes) of encoded sessions, and one message per member is in
 * flight at a time (each is acknowledged before the next leaves); a session larger than the budget
 * goes alone (the channel refuses it when it exceeds the frame: counted as a failure, the copy is
 * kept). Between messages the pusher yields to the event loop, so requests are served meanwhile.
 */
import { setImmediate as yieldNow } from 'node:timers/promises'
import type { Channel } from '../tribes/channel-types.ts'
import { encode } from '../tribes/codec.ts'
import type { Member } from '../tribes/member.ts'
import { defaults } from '../tribes/options.ts'
import { SendOption } from '../tribes/send-options.ts'
import { type MessageCounts, SESSION_MESSAGE } from './messages.ts'
import type { SessionData } from './session.ts'
import { pageBudget } from './transfer-pages.ts'

/** ACK after the receiver applied it (Tribes' USE_ACK | SYNCHRONIZED_ACK). */
export const PUSH_OPTIONS = SendOption.USE_ACK | SendOption.SYNCHRONIZED_ACK

export interface CopyPusherOptions {
  channel: Channel
  contextPath: string
  /** The manager's counts of sent messages, by type. */
  sent: MessageCounts
  /** The copy of a session to send (undefined: gone since). */
  data(key: string): SessionData | undefined
  /** Sessions per message, at most. */
  maxCount: number
  /**
   * Is `to` still one to push to (a member that announced its departure is not)? Checked before each
   * message: the rest of a push to a member that left placement meanwhile is not sent (unconfirmed).
   */
  accepts?(to: Member): boolean
}

export class CopyPusher {
  readonly #o: CopyPusherOptions
  readonly #budget: number
  /** Copies sent and confirmed; messages that failed. */
  readonly counters = { copiesPushed: 0, pushFailures: 0 }

  constructor(options: CopyPusherOptions) {
    this.#o = options
    this.#budget = pageBudget(options.channel.maxFrameBytes ?? defaults.receiver.maxFrameBytes)
  }

  /**
   * Sends the copies of `keys` to `to`, in bounded messages one after the other; resolves with the
   * keys `to` confirmed (those gone here meanwhile count as confirmed: there is nothing to keep).
   */
  async push(to: Member, keys: Iterable<string>): Promise<Set<string>> {
    const confirmed = new Set<string>()
    let batch: SessionData[] = []
    let batchKeys: string[] = []
    let bytes = 0
    const flush = async () => {
      if (batch.length === 0) return
      const sessions = batch
      const sent = batchKeys
      batch = []
      batchKeys = []
      bytes = 0
      if (this.#o.accepts && !this.#o.accepts(to)) return
      this.#o.sent.backup++
      try {
        await this.#o.channel.send(
          to,
          { k: SESSION_MESSAGE, type: 'backup', ctx: this.#o.contextPath, sessions },
          PUSH_OPTIONS,
        )
        for (const k of sent) confirmed.add(k)
        this.counters.copiesPushed += sent.length
      } catch {
        this.counters.pushFailures++
      }
      await yieldNow()
    }
    for (const key of keys) {
      const d = this.#o.data(key)
      if (!d) {
        confirmed.add(key)
        continue
      }
      let size: number
      try {
        size = encode(d).length
      } catch {
        // Cannot be encoded (state transfer leaves such a session out too): kept, not confirmed.
        continue
      }
      if (batch.length >= this.#o.maxCount || (batch.length > 0 && bytes + size > this.#budget)) await flush()
      batch.push(d)
      batchKeys.push(key)
      bytes += size
    }
    await flush()
    return confirmed
  }
}
