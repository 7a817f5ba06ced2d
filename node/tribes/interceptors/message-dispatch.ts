/**
 * Tribes' MessageDispatchInterceptor: an ASYNCHRONOUS send resolves as soon as the message is queued,
 * and a background drain sends it. One queue per destination, so a slow or dead member never holds
 * up the others, and order per destination is kept. Each queue is bounded by `maxQueueSize` bytes
 * (Tribes' default 64 MiB). At the bound, with `alwaysSend` (default true) the caller's send waits
 * for room — the queue never drops a message and order is kept — otherwise it rejects QUEUE_FULL.
 * A synchronous send to a member whose queue is not empty goes through the queue as well (and its
 * promise settles when it is really sent), so it never overtakes the asynchronous sends before it.
 */
import { CatteryError, ChannelSendError, codes } from '../errors.ts'
import { Interceptor, type OutgoingMessage } from '../interceptor.ts'
import { describeMember, type Member, memberId } from '../member.ts'
import type { InterceptorConfig } from '../options.ts'
import { isAsync } from '../send-options.ts'

type Config = Extract<InterceptorConfig, { type: 'MessageDispatch' }>

/**
 * Sends kept in flight per destination (pipelined: the transport writes them in order and matches
 * ACKs by id), bounded in number and in bytes.
 */
const WINDOW = 256
const WINDOW_BYTES = 16 * 1024 * 1024
/** On stop, how long queued messages get to go out before they are dropped. */
const STOP_DRAIN_MS = 5000

interface Item {
  message: OutgoingMessage
  size: number
  /** For a synchronous send that had to queue: settles its caller's promise. */
  settle?: { resolve(): void; reject(err: CatteryError): void }
}

interface Queue {
  member: Member
  items: Array<Item | undefined>
  head: number
  bytes: number
  running: boolean
  /** Senders waiting for room, first come first served (from index waitHead on). */
  roomWaiters: Array<{ size: number; resolve(): void } | undefined>
  waitHead: number
  idleWaiters: Array<() => void>
}

const hasWaiters = (q: Queue) => q.waitHead < q.roomWaiters.length

export class MessageDispatchInterceptor extends Interceptor {
  readonly name = 'MessageDispatch'
  readonly #maxQueueSize: number
  readonly #alwaysSend: boolean
  readonly #queues = new Map<string, Queue>()
  readonly #counts = { dispatched: 0, failed: 0, waitedForRoom: 0, rejectedFull: 0, droppedGone: 0 }

  constructor(config: Config) {
    super()
    this.#maxQueueSize = config.maxQueueSize ?? 64 * 1024 * 1024
    this.#alwaysSend = config.alwaysSend ?? true
  }

  override sendMessage(to: Member[], message: OutgoingMessage): Promise<void> {
    if (!isAsync(message.options)) return this.#sendInOrder(to, message)
    const size = message.body.length + 64
    const waits: Promise<void>[] = []
    const full: Member[] = []
    for (const member of to) {
      const q = this.#queue(member)
      const fits = !hasWaiters(q) && (q.bytes + size <= this.#maxQueueSize || q.bytes === 0)
      if (fits) this.#enqueue(q, message, size)
      else if (this.#alwaysSend) {
        this.#counts.waitedForRoom++
        waits.push(this.#waitForRoom(q, size, message))
      } else full.push(member)
    }
    if (full.length) {
      this.#counts.rejectedFull += full.length
      const err = (m: Member) =>
        new CatteryError(
          codes.QUEUE_FULL,
          `send queue to ${describeMember(m)} is full (${this.#maxQueueSize} bytes)`,
        )
      return Promise.reject(
        new ChannelSendError(full.map((m) => ({ member: describeMember(m), error: err(m) }))),
      )
    }
    return waits.length ? Promise.all(waits).then(() => undefined) : Promise.resolve()
  }

  /** A synchronous send: direct, unless asynchronous sends to a destination are still queued. */
  #sendInOrder(to: Member[], message: OutgoingMessage): Promise<void> {
    const busy = to.filter((m) => this.#queues.get(memberId(m))?.running)
    if (busy.length === 0) return this.next.sendMessage(to, message)
    const idle = to.filter((m) => !busy.includes(m))
    const size = message.body.length + 64
    const parts = busy.map(
      (m) =>
        new Promise<void>((resolve, reject) => {
          const q = this.#queue(m)
          const item: Item = { message, size, settle: { resolve, reject } }
          if (hasWaiters(q)) q.roomWaiters.push({ size, resolve: () => this.#push(q, item) })
          else this.#push(q, item)
        }),
    )
    if (idle.length) parts.push(this.next.sendMessage(idle, message))
    return Promise.allSettled(parts).then((results) => {
      const failures = results.flatMap((r, i) =>
        r.status === 'rejected'
          ? r.reason instanceof ChannelSendError
            ? r.reason.failures
            : [{ member: describeMember(busy[i] as Member), error: r.reason as CatteryError }]
          : [],
      )
      if (failures.length) throw new ChannelSendError(failures)
    })
  }

  override memberLeft(member: Member, reason: string): void {
    const id = memberId(member)
    const q = this.#queues.get(id)
    if (q) {
      this.#queues.delete(id)
      const left = q.items.length - q.head
      if (left > 0) {
        this.#counts.droppedGone += left
        this.ctx.asyncFailure(
          new CatteryError(
            codes.MEMBER_GONE,
            `${left} queued message(s) to ${describeMember(member)} dropped: ${reason}`,
          ),
        )
      }
      const gone = new CatteryError(codes.MEMBER_GONE, `${describeMember(member)} left: ${reason}`)
      for (let i = q.head; i < q.items.length; i++) q.items[i]?.settle?.reject(gone)
      q.items = []
      q.head = 0
      q.bytes = 0
      for (const w of q.roomWaiters.splice(q.waitHead)) w?.resolve()
      q.waitHead = 0
    }
  }

  override async stop(): Promise<void> {
    const idle = [...this.#queues.values()].filter((q) => q.running).map((q) => this.#waitIdle(q))
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      Promise.all(idle),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, STOP_DRAIN_MS)
      }),
    ])
    clearTimeout(timer)
  }

  override stats(): Record<string, number> {
    let queued = 0
    let queuedBytes = 0
    for (const q of this.#queues.values()) {
      queued += q.items.length - q.head
      queuedBytes += q.bytes
    }
    return { ...this.#counts, queued, queuedBytes }
  }

  /** What is queued for one member now: messages and bytes. */
  override memberStats(member: Member): Record<string, number> {
    const q = this.#queues.get(memberId(member))
    return q ? { queued: q.items.length - q.head, queuedBytes: q.bytes } : { queued: 0, queuedBytes: 0 }
  }

  #queue(member: Member): Queue {
    const id = memberId(member)
    let q = this.#queues.get(id)
    if (!q) {
      q = {
        member,
        items: [],
        head: 0,
        bytes: 0,
        running: false,
        roomWaiters: [],
        waitHead: 0,
        idleWaiters: [],
      }
      this.#queues.set(id, q)
    }
    return q
  }

  #enqueue(q: Queue, message: OutgoingMessage, size: number): void {
    this.#push(q, { message, size })
  }

  #push(q: Queue, item: Item): void {
    q.items.push(item)
    q.bytes += item.size
    if (!q.running) {
      q.running = true
      queueMicrotask(() => this.#drain(q))
    }
  }

  /** Waits behind earlier waiters until the message fits, then queues it (order is kept). */
  #waitForRoom(q: Queue, size: number, message: OutgoingMessage): Promise<void> {
    return new Promise((resolve) => {
      q.roomWaiters.push({
        size,
        resolve: () => {
          this.#enqueue(q, message, size)
          resolve()
        },
      })
    })
  }

  #waitIdle(q: Queue): Promise<void> {
    return new Promise((resolve) => q.idleWaiters.push(resolve))
  }

  #release(q: Queue, size: number): void {
    q.bytes = Math.max(0, q.bytes - size)
    while (q.waitHead < q.roomWaiters.length) {
      const w = q.roomWaiters[q.waitHead] as { size: number; resolve(): void }
      if (q.bytes + w.size > this.#maxQueueSize && q.bytes !== 0) break
      q.roomWaiters[q.waitHead++] = undefined
      w.resolve()
    }
    if (q.waitHead === q.roomWaiters.length) {
      q.roomWaiters = []
      q.waitHead = 0
    } else if (q.waitHead > 1024 && q.waitHead * 2 > q.roomWaiters.length) {
      q.roomWaiters = q.roomWaiters.slice(q.waitHead)
      q.waitHead = 0
    }
  }

  async #drain(q: Queue): Promise<void> {
    const inFlight: Array<{ sent: Promise<void>; size: number }> = []
    let inFlightBytes = 0
    while (q.head < q.items.length) {
      const item = q.items[q.head] as Item
      q.items[q.head++] = undefined
      if (q.head > 1024 && q.head * 2 > q.items.length) {
        q.items = q.items.slice(q.head)
        q.head = 0
      }
      const sent = this.next.sendMessage([q.member], item.message).then(
        () => {
          this.#counts.dispatched++
          this.#release(q, item.size)
          item.settle?.resolve()
        },
        (err: CatteryError) => {
          this.#counts.failed++
          this.#release(q, item.size)
          if (item.settle) item.settle.reject(err)
          else this.ctx.asyncFailure(err)
        },
      )
      inFlight.push({ sent, size: item.size })
      inFlightBytes += item.size
      while (inFlight.length >= WINDOW || inFlightBytes > WINDOW_BYTES) {
        const oldest = inFlight.shift() as { sent: Promise<void>; size: number }
        inFlightBytes -= oldest.size
        await oldest.sent
      }
    }
    await Promise.all(inFlight.map((f) => f.sent))
    if (q.head < q.items.length) return this.#drain(q)
    q.items = []
    q.head = 0
    q.running = false
    for (const w of q.idleWaiters.splice(0)) w()
  }
}
