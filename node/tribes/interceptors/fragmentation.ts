/**
 * Tribes' FragmentationInterceptor: a body over `maxSize` (102400) is split into pieces of at most
 * maxSize, each its own message with header f = [group, index, count]; the receiver joins them.
 * Bounds: a message may not exceed `maxMessageSize` (64 MiB) — refused with FRAGMENT_LIMIT; the bytes
 * held in incomplete groups may not exceed 4 × maxMessageSize — a new group is refused at the bound;
 * a group not complete within `expire` ms (60000) is dropped with FRAGMENT_EXPIRED.
 */
import { CatteryError, codes } from '../errors.ts'
import { type IncomingMessage, Interceptor, type OutgoingMessage } from '../interceptor.ts'
import { describeMember, type Member, memberId } from '../member.ts'
import type { InterceptorConfig } from '../options.ts'

type Config = Extract<InterceptorConfig, { type: 'Fragmentation' }>

interface Group {
  pieces: Array<Uint8Array | undefined>
  received: number
  bytes: number
  startedAt: number
  from: Member
}

export class FragmentationInterceptor extends Interceptor {
  readonly name = 'Fragmentation'
  readonly #maxSize: number
  readonly #expire: number
  readonly #maxMessageSize: number
  readonly #groups = new Map<string, Group>()
  #held = 0
  #nextGroup = 1
  #timer: NodeJS.Timeout | undefined
  readonly #counts = { split: 0, joined: 0, expired: 0, refused: 0 }

  constructor(config: Config) {
    super()
    this.#maxSize = config.maxSize ?? 102_400
    this.#expire = config.expire ?? 60_000
    this.#maxMessageSize = config.maxMessageSize ?? 64 * 1024 * 1024
  }

  override start(): void {
    this.#timer = setInterval(() => this.#expireGroups(), Math.max(50, Math.min(5000, this.#expire / 4)))
    this.#timer.unref()
  }

  override stop(): void {
    clearInterval(this.#timer)
    this.#groups.clear()
    this.#held = 0
  }

  override sendMessage(to: Member[], message: OutgoingMessage): Promise<void> {
    const body = message.body
    if (body.length <= this.#maxSize) return this.next.sendMessage(to, message)
    if (body.length > this.#maxMessageSize) {
      return Promise.reject(
        new CatteryError(
          codes.FRAGMENT_LIMIT,
          `message of ${body.length} bytes exceeds Fragmentation maxMessageSize ${this.#maxMessageSize}`,
        ),
      )
    }
    const group = this.#nextGroup++
    const count = Math.ceil(body.length / this.#maxSize)
    this.#counts.split++
    const sends: Promise<void>[] = []
    for (let i = 0; i < count; i++) {
      const piece = body.subarray(i * this.#maxSize, (i + 1) * this.#maxSize)
      sends.push(
        this.next.sendMessage(to, {
          ...message,
          header: { ...message.header, f: [group, i, count] },
          body: piece,
        }),
      )
    }
    return Promise.all(sends).then(() => undefined)
  }

  override messageReceived(message: IncomingMessage): void {
    const f = message.header.f
    if (f === undefined) {
      super.messageReceived(message)
      return
    }
    if (!isFragmentHeader(f)) {
      this.#refuse(message, codes.FRAGMENT_LIMIT, `bad fragment header ${JSON.stringify(f)}`)
      return
    }
    const [group, index, count] = f
    const key = `${memberId(message.from)}:${group}`
    let g = this.#groups.get(key)
    if (!g) {
      // Pieces are at least 1 KiB (the smallest maxSize allowed), so more pieces than this cannot fit.
      if (count > Math.ceil(this.#maxMessageSize / 1024)) {
        this.#refuse(message, codes.FRAGMENT_LIMIT, `a message of ${count} pieces exceeds maxMessageSize`)
        return
      }
      if (this.#held + message.body.length > 4 * this.#maxMessageSize) {
        this.#refuse(message, codes.FRAGMENT_LIMIT, 'too many bytes held in incomplete messages')
        return
      }
      g = { pieces: new Array(count), received: 0, bytes: 0, startedAt: Date.now(), from: message.from }
      this.#groups.set(key, g)
    }
    if (g.pieces.length !== count || g.pieces[index] !== undefined) {
      this.#refuse(message, codes.FRAGMENT_LIMIT, `fragment ${index}/${count} does not fit its group`)
      return
    }
    if (g.bytes + message.body.length > this.#maxMessageSize) {
      this.#drop(key, g)
      this.#refuse(message, codes.FRAGMENT_LIMIT, `message exceeds maxMessageSize ${this.#maxMessageSize}`)
      return
    }
    g.pieces[index] = message.body
    g.received++
    g.bytes += message.body.length
    this.#held += message.body.length
    if (g.received < count) {
      message.done()
      return
    }
    this.#drop(key, g)
    this.#counts.joined++
    const { f: _f, ...header } = message.header
    super.messageReceived({ ...message, header, body: Buffer.concat(g.pieces as Uint8Array[]) })
  }

  override memberLeft(member: Member): void {
    const prefix = `${memberId(member)}:`
    for (const [key, g] of this.#groups) if (key.startsWith(prefix)) this.#drop(key, g)
  }

  override stats(): Record<string, number> {
    return { ...this.#counts, incomplete: this.#groups.size, heldBytes: this.#held }
  }

  #drop(key: string, g: Group): void {
    this.#groups.delete(key)
    this.#held -= g.bytes
  }

  #refuse(message: IncomingMessage, code: string, why: string): void {
    this.#counts.refused++
    const err = new CatteryError(code, `${why} (from ${describeMember(message.from)})`)
    this.ctx.logger.warn({ code, from: describeMember(message.from) }, err.message)
    message.done(err)
  }

  #expireGroups(): void {
    const limit = Date.now() - this.#expire
    for (const [key, g] of this.#groups) {
      if (g.startedAt >= limit) continue
      this.#drop(key, g)
      this.#counts.expired++
      this.ctx.logger.warn(
        {
          code: codes.FRAGMENT_EXPIRED,
          from: describeMember(g.from),
          received: g.received,
          count: g.pieces.length,
        },
        `incomplete message dropped after ${this.#expire} ms`,
      )
    }
  }
}

function isFragmentHeader(f: unknown): f is [number, number, number] {
  if (!Array.isArray(f) || f.length !== 3) return false
  const [group, index, count] = f
  return (
    Number.isSafeInteger(group) &&
    Number.isSafeInteger(index) &&
    Number.isSafeInteger(count) &&
    group >= 0 &&
    count >= 1 &&
    count <= 1_000_000 &&
    index >= 0 &&
    index < count
  )
}
