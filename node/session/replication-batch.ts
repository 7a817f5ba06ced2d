/**
 * Replication messages of one context, gathered and sent as one channel message: at the end of the
 * event-loop turn when traffic is light, and under load over the channel's asyncWriteInterval, so
 * that each batch is one write. Sending many changes together spares each one a trip through the
 * interceptors, a frame per member and, on every receiving member, a frame, a delivery, a decode, a
 * wake-up and (synchronous options) an ACK of its own — most of what a small message costs.
 *
 * With synchronous send options (interval 0: every batch leaves at the end of its turn) `add`
 * returns the batch's outcome, so each request still waits until its change was received (or handled)
 * by every member, as the send options ask; the requests of one turn share one frame and one ACK per
 * member (a group commit). The receiver ACKs a batch once all of its messages are handled.
 *
 * A batch is encoded here, so its size is known (its messages leave out `k` and `ctx`, the batch's):
 * one larger than MAX_BATCH_BYTES is split in two (down to single messages, which go as they are),
 * so a batch never needs a bigger frame than its largest message would. At most MAX_BATCH_MESSAGES
 * wait; the one that fills the batch sends it. Messages are encoded when the batch leaves, so they
 * must not be changed after they are added (attribute values are the application's: a value changed
 * in place meanwhile travels in its newer form, which the next delta carries anyway).
 */
import { encode } from '../tribes/codec.ts'
import { Pacer } from '../tribes/pacer.ts'
import { SESSION_MESSAGE, type SessionMessage } from './messages.ts'

export const MAX_BATCH_BYTES = 64 * 1024
export const MAX_BATCH_MESSAGES = 256
const SENT = Promise.resolve(true)

export interface BatchSender {
  /** One message, encoded by the channel; true when it reached every member as the options ask. */
  send(message: SessionMessage): Promise<boolean>
  /** A batch (a 'batch' session message) already encoded, carrying `messages`; as send. */
  sendEncoded(body: Uint8Array, messages: readonly SessionMessage[]): Promise<boolean>
}

export class ReplicationBatch {
  readonly #ctx: string
  readonly #out: BatchSender
  readonly #pacer: Pacer
  #waiting: SessionMessage[] = []
  /** The outcome of the batch being gathered, once a caller asked for it. */
  #outcome: PromiseWithResolvers<boolean> | undefined

  /**
   * `interval` (ms): batches leave at most this often — the first after a quiet spell at the end of
   * its turn, later ones gather until the interval has passed (the channel's asyncWriteInterval,
   * so each batch is one write; 0: every turn).
   */
  constructor(ctx: string, out: BatchSender, interval = 0) {
    this.#ctx = ctx
    this.#out = out
    this.#pacer = new Pacer(interval, () => this.flush())
  }

  get pending(): number {
    return this.#waiting.length
  }

  /** Adds a message to the batch; nothing to wait for (asynchronous send options). */
  add(message: SessionMessage): void {
    this.#waiting.push(message)
    if (this.#waiting.length >= MAX_BATCH_MESSAGES) this.flush()
    else this.#pacer.paced()
  }

  /**
   * Adds a message to the batch; resolves with the batch's outcome (true: every member got all of
   * it as the send options ask). One promise per batch, whatever the number of messages in it.
   */
  addAwaited(message: SessionMessage): Promise<boolean> {
    this.#outcome ??= Promise.withResolvers<boolean>()
    const { promise } = this.#outcome
    this.add(message)
    return promise
  }

  /** Sends what waits now (when its time has come, or before a stop). */
  flush(): void {
    this.#pacer.cancel()
    this.#pacer.ran()
    const waiting = this.#waiting
    const outcome = this.#outcome
    this.#waiting = []
    this.#outcome = undefined
    const sent = this.#sendAll(waiting)
    if (outcome) sent.then(outcome.resolve)
  }

  #sendAll(messages: SessionMessage[]): Promise<boolean> {
    if (messages.length === 0) return SENT
    // A lone message goes as it is: no wrapper to pay for when traffic is light. One that cannot be
    // encoded goes alone too, so the channel refuses it (ENCODE_FAILED) and the others still go.
    if (messages.length === 1) return this.#out.send(messages[0] as SessionMessage)
    let body: Buffer | undefined
    try {
      // Inside a batch a message leaves out what the batch says for all (k, ctx): a third of a delta.
      const inner = messages.map(withoutBatchFields)
      body = encode({ k: SESSION_MESSAGE, type: 'batch', ctx: this.#ctx, messages: inner })
    } catch {}
    if (body && body.length <= MAX_BATCH_BYTES) return this.#out.sendEncoded(body, messages)
    const half = Math.ceil(messages.length / 2)
    const first = this.#sendAll(messages.slice(0, half))
    const second = this.#sendAll(messages.slice(half))
    return Promise.all([first, second]).then(([a, b]) => a && b)
  }
}

/**
 * A message without `k` and `ctx`, its other fields in their order (so it encodes as the same
 * record). A delta with its writers (what the manager sends; nearly every message of a batch) is
 * copied field by field; the others by a loop. An object rest pattern (`{ k, ctx, ...rest }`) copies
 * through a slow runtime call, and a copy loop costs several times a literal: both showed in the
 * serving node's profile.
 */
function withoutBatchFields(m: SessionMessage): object {
  if (m.type === 'delta' && m.w !== undefined && m.b !== undefined)
    return { type: m.type, id: m.id, v: m.v, w: m.w, b: m.b, a: m.a, actions: m.actions }
  const out: Record<string, unknown> = {}
  const fields = m as unknown as Record<string, unknown>
  for (const key in fields) if (key !== 'k' && key !== 'ctx') out[key] = fields[key]
  return out
}
