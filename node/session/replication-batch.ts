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
 *
 * Coalescing: a delta that follows the delta of the same session waiting in the batch (its next
 * version, made here on top of it) is merged into that one: one delta from the first's base to the
 * last's version (`p`: the version it builds on), with the actions of both kept as one request keeps
 * its own (the last per attribute, as Tomcat's DeltaRequest), so a merged delta is never larger than
 * the session. A session written by many requests at once then costs every other member one change
 * per batch, not one per request. Any other message about the session (accessed, expired, change-id)
 * ends the run, and a merged delta spans at most `maxVersions` versions (receivers refuse larger
 * jumps). The manager does not merge with recordAllActions: every action of every request is to be
 * replicated, and their sum has no bound but the frame.
 */
import { encode } from '../tribes/codec.ts'
import { Pacer } from '../tribes/pacer.ts'
import { type DeltaAction, DeltaRequest } from './delta-request.ts'
import { SESSION_MESSAGE, type SessionMessage } from './messages.ts'

type Delta = SessionMessage & { type: 'delta' }

export const MAX_BATCH_BYTES = 64 * 1024
export const MAX_BATCH_MESSAGES = 256
const SENT = Promise.resolve(true)

export interface BatchSender {
  /** One message, encoded by the channel; true when it reached every member as the options ask. */
  send(message: SessionMessage): Promise<boolean>
  /** A batch (a 'batch' session message) already encoded, carrying `messages`; as send. */
  sendEncoded(body: Uint8Array, messages: readonly SessionMessage[]): Promise<boolean>
}

/** How the deltas of one session waiting in a batch are merged (see above). */
export interface Coalescing {
  /** Versions one merged delta may span, at most (manager.maxVersionStep: receivers refuse more). */
  maxVersions: number
}

export class ReplicationBatch {
  readonly #ctx: string
  readonly #out: BatchSender
  readonly #pacer: Pacer
  readonly #coalescing: Coalescing | undefined
  #waiting: SessionMessage[] = []
  /** Where the last delta of each session waits in #waiting, while the next may merge into it. */
  readonly #deltaAt = new Map<string, number>()
  /** The outcome of the batch being gathered, once a caller asked for it. */
  #outcome: PromiseWithResolvers<boolean> | undefined

  /**
   * `interval` (ms): batches leave at most this often — the first after a quiet spell at the end of
   * its turn, later ones gather until the interval has passed (the channel's asyncWriteInterval,
   * so each batch is one write; 0: every turn). Without `coalescing`, no delta is merged.
   */
  constructor(ctx: string, out: BatchSender, interval = 0, coalescing?: Coalescing) {
    this.#ctx = ctx
    this.#out = out
    this.#pacer = new Pacer(interval, () => this.flush())
    this.#coalescing = coalescing
  }

  get pending(): number {
    return this.#waiting.length
  }

  /** Adds a message to the batch; nothing to wait for (asynchronous send options). */
  add(message: SessionMessage): void {
    if (this.#coalescing && this.#merged(message, this.#coalescing)) return
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
    this.#deltaAt.clear()
    this.#outcome = undefined
    const sent = this.#sendAll(waiting)
    if (outcome) sent.then(outcome.resolve)
  }

  /**
   * True when `m` was merged into the delta of its session waiting here (that delta's place in the
   * batch now holds the merge); otherwise notes where `m` will wait, when it is a delta.
   */
  #merged(m: SessionMessage, c: Coalescing): boolean {
    if (m.type !== 'delta') {
      if ('id' in m && this.#deltaAt.size > 0) this.#deltaAt.delete(m.id)
      return false
    }
    const at = this.#deltaAt.get(m.id)
    const prev = at === undefined ? undefined : this.#waiting[at]
    if (prev?.type === 'delta' && follows(m, prev) && m.v - baseOf(prev) <= c.maxVersions) {
      this.#waiting[at as number] = merge(prev, m)
      return true
    }
    this.#deltaAt.set(m.id, this.#waiting.length)
    return false
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
    return m.p === undefined
      ? { type: m.type, id: m.id, v: m.v, w: m.w, b: m.b, a: m.a, actions: m.actions }
      : { type: m.type, id: m.id, v: m.v, w: m.w, b: m.b, p: m.p, a: m.a, actions: m.actions }
  const out: Record<string, unknown> = {}
  const fields = m as unknown as Record<string, unknown>
  for (const key in fields) if (key !== 'k' && key !== 'ctx') out[key] = fields[key]
  return out
}

/** The version a delta builds on. */
const baseOf = (d: Delta): number => d.p ?? d.v - 1

/** Was `next` made here on top of `prev` (its next version, by the writer that made `prev`)? */
const follows = (next: Delta, prev: Delta): boolean =>
  next.id === prev.id &&
  next.v === prev.v + 1 &&
  prev.w !== undefined &&
  prev.b !== undefined &&
  next.b === prev.w &&
  next.w !== undefined

/** One delta doing what `prev` then `next` do: prev's base, next's version and writer. */
function merge(prev: Delta, next: Delta): Delta {
  return {
    k: SESSION_MESSAGE,
    type: 'delta',
    ctx: prev.ctx,
    id: prev.id,
    v: next.v,
    w: next.w as string,
    b: prev.b as string,
    p: baseOf(prev),
    a: Math.max(prev.a, next.a),
    actions: mergeActions(prev.actions, next.actions),
  }
}

/** The actions of two requests as one request would record them: the last per attribute (delta-request.ts). */
function mergeActions(first: DeltaAction[], then: DeltaAction[]): DeltaAction[] {
  // The common case: both set the same one attribute (a counter, a cart), and the later set wins.
  const [a] = first
  const [b] = then
  if (first.length === 1 && then.length === 1 && a?.[0] === 'set' && b?.[0] === 'set' && a[1] === b[1])
    return then
  const log = new DeltaRequest(false)
  for (const action of first) log.record(action)
  for (const action of then) log.record(action)
  return log.drain()
}
