/**
 * Tribes' TcpPingInterceptor: every `interval` ms (1000) sends a small ping through the rest of the
 * stack to every member, so connections stay warm and a broken one is found (and reported as a
 * suspect by the transport) even when the application is idle. Pings never reach listeners.
 */
import { type IncomingMessage, Interceptor } from '../interceptor.ts'
import type { InterceptorConfig } from '../options.ts'

type Config = Extract<InterceptorConfig, { type: 'TcpPing' }>

const EMPTY = new Uint8Array(0)

export class TcpPingInterceptor extends Interceptor {
  readonly name = 'TcpPing'
  readonly #interval: number
  #timer: NodeJS.Timeout | undefined
  #inFlight = false
  readonly #counts = { pingsSent: 0, pingsFailed: 0, pingsReceived: 0 }

  constructor(config: Config) {
    super()
    this.#interval = config.interval ?? 1000
  }

  override start(): void {
    this.#timer = setInterval(() => this.#ping(), this.#interval)
    this.#timer.unref()
  }

  override stop(): void {
    clearInterval(this.#timer)
  }

  override messageReceived(message: IncomingMessage): void {
    if (message.header.tp === undefined) {
      super.messageReceived(message)
      return
    }
    this.#counts.pingsReceived++
    message.done()
  }

  override stats(): Record<string, number> {
    return { ...this.#counts }
  }

  #ping(): void {
    const members = this.ctx.members()
    if (this.#inFlight || members.length === 0) return
    this.#inFlight = true
    this.#counts.pingsSent += members.length
    this.next
      .sendMessage(members, { options: 0, header: { tp: 1 }, body: EMPTY })
      .catch((err: { failures?: unknown[] }) => {
        this.#counts.pingsFailed += err.failures?.length ?? 1
      })
      .finally(() => {
        this.#inFlight = false
      })
  }
}
