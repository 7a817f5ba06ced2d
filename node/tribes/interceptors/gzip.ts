/**
 * Tribes' GzipInterceptor: bodies of at least `minSize` bytes (2048) are gzipped (header z=1) when
 * that makes them smaller. Compression runs on libuv's thread pool; messages still leave, and are
 * delivered, in the order they were sent. A body that would inflate past `maxMessageSize` (64 MiB)
 * is refused with GZIP_FAILED instead of being expanded (no zip bombs).
 */
import { promisify } from 'node:util'
import zlib from 'node:zlib'
import { CatteryError, codes } from '../errors.ts'
import { type IncomingMessage, Interceptor, type OutgoingMessage } from '../interceptor.ts'
import { describeMember, type Member } from '../member.ts'
import type { InterceptorConfig } from '../options.ts'

type Config = Extract<InterceptorConfig, { type: 'Gzip' }>
const gzip = promisify(zlib.gzip)
const gunzip = promisify(zlib.gunzip)

export class GzipInterceptor extends Interceptor {
  readonly name = 'Gzip'
  readonly #minSize: number
  readonly #maxMessageSize: number
  /** Sends and deliveries wait behind earlier compressions, so order is kept. */
  #sendTail: Promise<unknown> = Promise.resolve()
  #sendPending = 0
  #receiveTail: Promise<unknown> = Promise.resolve()
  #receivePending = 0
  readonly #counts = { compressed: 0, bytesIn: 0, bytesOut: 0, decompressed: 0, refused: 0 }

  constructor(config: Config) {
    super()
    this.#minSize = config.minSize ?? 2048
    this.#maxMessageSize = config.maxMessageSize ?? 64 * 1024 * 1024
  }

  override sendMessage(to: Member[], message: OutgoingMessage): Promise<void> {
    if (message.body.length < this.#minSize && this.#sendPending === 0)
      return this.next.sendMessage(to, message)
    this.#sendPending++
    const ready = this.#sendTail.then(() => this.#compress(message))
    this.#sendTail = ready.finally(() => this.#sendPending--)
    return ready.then((m) => this.next.sendMessage(to, m))
  }

  override messageReceived(message: IncomingMessage): void {
    if (message.header.z === undefined && this.#receivePending === 0) {
      super.messageReceived(message)
      return
    }
    this.#receivePending++
    this.#receiveTail = this.#receiveTail
      .then(() => this.#decompress(message))
      .then(
        (m) => super.messageReceived(m),
        (err: CatteryError) => {
          this.#counts.refused++
          this.ctx.logger.warn(
            { code: err.code, from: describeMember(message.from), err: err.message },
            'refused',
          )
          message.done(err)
        },
      )
      .finally(() => this.#receivePending--)
  }

  override stats(): Record<string, number> {
    return { ...this.#counts }
  }

  async #compress(message: OutgoingMessage): Promise<OutgoingMessage> {
    if (message.body.length < this.#minSize) return message
    const packed = await gzip(message.body)
    if (packed.length >= message.body.length) return message
    this.#counts.compressed++
    this.#counts.bytesIn += message.body.length
    this.#counts.bytesOut += packed.length
    return { ...message, header: { ...message.header, z: 1 }, body: packed }
  }

  async #decompress(message: IncomingMessage): Promise<IncomingMessage> {
    if (message.header.z === undefined) return message
    try {
      const body = await gunzip(message.body, { maxOutputLength: this.#maxMessageSize })
      this.#counts.decompressed++
      const { z: _z, ...header } = message.header
      return { ...message, header, body }
    } catch (err) {
      throw new CatteryError(
        codes.GZIP_FAILED,
        `cannot gunzip a message (limit ${this.#maxMessageSize} bytes): ${(err as Error).message}`,
        { cause: err },
      )
    }
  }
}
