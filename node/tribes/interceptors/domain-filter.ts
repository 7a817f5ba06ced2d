/**
 * Tribes' DomainFilterInterceptor: only members of one domain (default: this member's) are seen,
 * and messages from other domains are refused with DOMAIN_MISMATCH.
 */
import { CatteryError, codes } from '../errors.ts'
import { type IncomingMessage, Interceptor } from '../interceptor.ts'
import { describeMember, type Member, memberId } from '../member.ts'
import type { InterceptorConfig } from '../options.ts'

type Config = Extract<InterceptorConfig, { type: 'DomainFilter' }>

/** Senders already warned about, so a chatty foreign member does not flood the log. */
const MAX_WARNED = 1024

export class DomainFilterInterceptor extends Interceptor {
  readonly name = 'DomainFilter'
  readonly #configured: string | undefined
  readonly #counts = { membersIgnored: 0, messagesRefused: 0 }
  readonly #warned = new Set<string>()

  constructor(config: Config) {
    super()
    this.#configured = config.domain
  }

  get #domain(): string {
    return this.#configured ?? this.ctx.localMember.domain
  }

  override memberAdded(member: Member): void {
    if (member.domain === this.#domain) super.memberAdded(member)
    else this.#counts.membersIgnored++
  }

  override memberDisappeared(member: Member, reason: string): void {
    if (member.domain === this.#domain) super.memberDisappeared(member, reason)
  }

  override messageReceived(message: IncomingMessage): void {
    if (message.from.domain === this.#domain) {
      super.messageReceived(message)
      return
    }
    this.#counts.messagesRefused++
    const err = new CatteryError(
      codes.DOMAIN_MISMATCH,
      `message from ${describeMember(message.from)} of domain '${message.from.domain}' refused (this domain: '${this.#domain}')`,
    )
    const id = memberId(message.from)
    if (!this.#warned.has(id) && this.#warned.size < MAX_WARNED) {
      this.#warned.add(id)
      this.ctx.logger.warn({ code: err.code, from: describeMember(message.from) }, err.message)
    }
    message.done(err)
  }

  override stats(): Record<string, number> {
    return { ...this.#counts }
  }
}
