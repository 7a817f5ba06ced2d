/**
 * Tribes' OrderInterceptor: messages from one sender are delivered in the order they were sent,
 * whatever path they took. Each destination gets its own sequence (header o); a receiver holds
 * messages that arrive early (at most `maxQueue` per sender, 10000) until the gap before them closes.
 * A gap open for `expire` ms (3000) is given up: with `forwardExpired` (true) the held messages are
 * delivered past it, otherwise they are dropped with ORDER_EXPIRED. At `maxQueue`, the oldest gap is
 * given up the same way.
 */
import { CatteryError, ChannelSendError, codes } from '../errors.ts'
import { type IncomingMessage, Interceptor, type OutgoingMessage } from '../interceptor.ts'
import { type Member, memberId } from '../member.ts'
import type { InterceptorConfig } from '../options.ts'

type Config = Extract<InterceptorConfig, { type: 'Order' }>

interface Inbox {
  /** The next sequence number to deliver. */
  next: number
  held: Map<number, IncomingMessage>
  /** When the current gap opened (0: no gap). */
  gapSince: number
}

export class OrderInterceptor extends Interceptor {
  readonly name = 'Order'
  readonly #expire: number
  readonly #forwardExpired: boolean
  readonly #maxQueue: number
  readonly #outgoing = new Map<string, number>()
  readonly #inboxes = new Map<string, Inbox>()
  #timer: NodeJS.Timeout | undefined
  readonly #counts = { delivered: 0, held: 0, expiredGaps: 0, dropped: 0 }

  constructor(config: Config) {
    super()
    this.#expire = config.expire ?? 3000
    this.#forwardExpired = config.forwardExpired ?? true
    this.#maxQueue = config.maxQueue ?? 10_000
  }

  override start(): void {
    this.#timer = setInterval(() => this.#expireGaps(), Math.max(10, Math.min(1000, this.#expire / 4)))
    this.#timer.unref()
  }

  override stop(): void {
    clearInterval(this.#timer)
  }

  override sendMessage(to: Member[], message: OutgoingMessage): Promise<void> {
    const sends = to.map((m) => {
      const id = memberId(m)
      const seq = (this.#outgoing.get(id) ?? 0) + 1
      this.#outgoing.set(id, seq)
      return this.next.sendMessage([m], { ...message, header: { ...message.header, o: seq } })
    })
    if (sends.length === 1) return sends[0] as Promise<void>
    return Promise.allSettled(sends).then((results) => {
      const failures = results.flatMap((r) =>
        r.status === 'fulfilled'
          ? []
          : r.reason instanceof ChannelSendError
            ? r.reason.failures
            : [{ member: '?', error: r.reason as CatteryError }],
      )
      if (failures.length) throw new ChannelSendError(failures)
    })
  }

  override messageReceived(message: IncomingMessage): void {
    const seq = message.header.o
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) {
      super.messageReceived(message)
      return
    }
    const id = memberId(message.from)
    let box = this.#inboxes.get(id)
    if (!box) {
      // The first message seen from a sender starts its sequence (it may have sent before we joined).
      box = { next: seq, held: new Map(), gapSince: 0 }
      this.#inboxes.set(id, box)
    }
    if (seq < box.next || box.held.has(seq)) {
      message.done() // a duplicate (e.g. a retried send): delivered already
      return
    }
    if (seq > box.next) {
      box.held.set(seq, message)
      this.#counts.held++
      if (!box.gapSince) box.gapSince = Date.now()
      if (box.held.size > this.#maxQueue) this.#skipGap(box)
      return
    }
    this.#deliver(box, message)
  }

  override memberLeft(member: Member): void {
    const id = memberId(member)
    this.#outgoing.delete(id)
    const box = this.#inboxes.get(id)
    if (!box) return
    this.#inboxes.delete(id)
    for (const m of box.held.values()) m.done()
  }

  override stats(): Record<string, number> {
    let waiting = 0
    for (const b of this.#inboxes.values()) waiting += b.held.size
    return { ...this.#counts, waiting }
  }

  #deliver(box: Inbox, message: IncomingMessage): void {
    box.next++
    this.#counts.delivered++
    super.messageReceived(message)
    for (let m = box.held.get(box.next); m; m = box.held.get(box.next)) {
      box.held.delete(box.next)
      box.next++
      this.#counts.delivered++
      super.messageReceived(m)
    }
    box.gapSince = box.held.size ? Date.now() : 0
  }

  /** Gives up the gap before the oldest held message. */
  #skipGap(box: Inbox): void {
    this.#counts.expiredGaps++
    const first = Math.min(...box.held.keys())
    if (!this.#forwardExpired) {
      const last = Math.max(...box.held.keys())
      for (const [seq, m] of box.held) {
        box.held.delete(seq)
        this.#counts.dropped++
        m.done(
          new CatteryError(codes.ORDER_EXPIRED, `message ${seq} dropped: an earlier message never arrived`),
        )
      }
      box.next = last + 1
      box.gapSince = 0
      return
    }
    const m = box.held.get(first) as IncomingMessage
    box.held.delete(first)
    box.next = first
    this.#deliver(box, m)
  }

  #expireGaps(): void {
    const limit = Date.now() - this.#expire
    for (const box of this.#inboxes.values()) {
      if (box.gapSince && box.gapSince < limit) this.#skipGap(box)
    }
  }
}
