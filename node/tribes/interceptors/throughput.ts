/**
 * Tribes' ThroughputInterceptor: counts messages and bytes sent and received, and every `interval`
 * messages sent (10000) logs the rate since the previous report.
 */
import { type IncomingMessage, Interceptor, type OutgoingMessage } from '../interceptor.ts'
import type { Member } from '../member.ts'
import type { InterceptorConfig } from '../options.ts'

type Config = Extract<InterceptorConfig, { type: 'Throughput' }>

export class ThroughputInterceptor extends Interceptor {
  readonly name = 'Throughput'
  readonly #interval: number
  readonly #counts = { messagesSent: 0, bytesSent: 0, messagesReceived: 0, bytesReceived: 0, sendFailures: 0 }
  #mark = { at: Date.now(), messages: 0, bytes: 0 }

  constructor(config: Config) {
    super()
    this.#interval = config.interval ?? 10_000
  }

  override sendMessage(to: Member[], message: OutgoingMessage): Promise<void> {
    this.#counts.messagesSent += to.length
    this.#counts.bytesSent += message.body.length * to.length
    if (this.#counts.messagesSent - this.#mark.messages >= this.#interval) this.#report()
    return this.next.sendMessage(to, message).catch((err) => {
      this.#counts.sendFailures++
      throw err
    })
  }

  override messageReceived(message: IncomingMessage): void {
    this.#counts.messagesReceived++
    this.#counts.bytesReceived += message.body.length
    super.messageReceived(message)
  }

  override stats(): Record<string, number> {
    return { ...this.#counts }
  }

  #report(): void {
    const now = Date.now()
    const seconds = Math.max(0.001, (now - this.#mark.at) / 1000)
    const messages = this.#counts.messagesSent - this.#mark.messages
    const bytes = this.#counts.bytesSent - this.#mark.bytes
    this.ctx.logger.info(
      {
        throughput: {
          messagesPerSecond: Math.round(messages / seconds),
          megabytesPerSecond: Number((bytes / seconds / 1e6).toFixed(2)),
          ...this.#counts,
        },
      },
      'throughput',
    )
    this.#mark = { at: now, messages: this.#counts.messagesSent, bytes: this.#counts.bytesSent }
  }
}
