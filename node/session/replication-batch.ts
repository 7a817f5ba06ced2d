/**
 * Asynchronous replication messages of one context, gathered over one event-loop turn and sent as
 * one channel message. With many requests in flight, one turn ends several of them; sending their
 * changes together spares each one a trip through the interceptors, a frame per member and, on every
 * receiving member, a frame, a delivery and a decode of its own — most of what a small message costs.
 *
 * A batch is encoded here, so its size is known (its messages leave out `k` and `ctx`, the batch's): one larger than MAX_BATCH_BYTES is split in two
 * (down to single messages, which go as they are), so a batch never needs a bigger frame than its
 * largest message would. At most MAX_BATCH_MESSAGES wait; the one that fills the batch sends it.
 * Messages are encoded at the end of the turn, so they must not be changed after they are added.
 */
import { encode } from '../tribes/codec.ts'
import { SESSION_MESSAGE, type SessionMessage } from './messages.ts'

export const MAX_BATCH_BYTES = 64 * 1024
export const MAX_BATCH_MESSAGES = 256

export interface BatchSender {
  /** One message, encoded by the channel. */
  send(message: SessionMessage): void
  /** A batch (a 'batch' session message) already encoded. */
  sendEncoded(body: Uint8Array): void
}

export class ReplicationBatch {
  readonly #ctx: string
  readonly #out: BatchSender
  #waiting: SessionMessage[] = []
  #scheduled: NodeJS.Immediate | undefined
  readonly #flushNow = () => this.flush()

  constructor(ctx: string, out: BatchSender) {
    this.#ctx = ctx
    this.#out = out
  }

  get pending(): number {
    return this.#waiting.length
  }

  add(message: SessionMessage): void {
    this.#waiting.push(message)
    if (this.#waiting.length >= MAX_BATCH_MESSAGES) this.flush()
    else this.#scheduled ??= setImmediate(this.#flushNow)
  }

  /** Sends what waits now (at the end of the turn, or before a stop). */
  flush(): void {
    if (this.#scheduled) clearImmediate(this.#scheduled)
    this.#scheduled = undefined
    const waiting = this.#waiting
    this.#waiting = []
    this.#sendAll(waiting)
  }

  #sendAll(messages: SessionMessage[]): void {
    if (messages.length === 0) return
    // A lone message goes as it is: no wrapper to pay for when traffic is light. One that cannot be
    // encoded goes alone too, so the channel refuses it (ENCODE_FAILED) and the others still go.
    if (messages.length === 1) {
      this.#out.send(messages[0] as SessionMessage)
      return
    }
    let body: Buffer | undefined
    try {
      // Inside a batch a message leaves out what the batch says for all (k, ctx): a third of a delta.
      const inner = messages.map(({ k: _k, ctx: _ctx, ...rest }) => rest)
      body = encode({ k: SESSION_MESSAGE, type: 'batch', ctx: this.#ctx, messages: inner })
    } catch {}
    if (body && body.length <= MAX_BATCH_BYTES) {
      this.#out.sendEncoded(body)
      return
    }
    const half = Math.ceil(messages.length / 2)
    this.#sendAll(messages.slice(0, half))
    this.#sendAll(messages.slice(half))
  }
}
