/**
 * Tribes' TcpFailureDetector: before a member is dropped for silence, check it over TCP; and when a
 * send to it fails or its connection breaks, check it at once instead of waiting for the membership
 * timeout. The check is a PING that the member's process must answer with a PONG naming the same
 * uniqueId, so a hung or stopped process, or a restarted one, does not pass for alive.
 */
import type { CatteryError } from '../errors.ts'
import { Interceptor } from '../interceptor.ts'
import { type Member, memberId } from '../member.ts'
import type { InterceptorConfig } from '../options.ts'

type Config = Extract<InterceptorConfig, { type: 'TcpFailureDetector' }>

export class TcpFailureDetector extends Interceptor {
  readonly name = 'TcpFailureDetector'
  readonly #connectTimeout: number
  readonly #performConnectTest: boolean
  readonly #checking = new Map<string, Promise<boolean>>()
  /** Members the membership dropped for silence but that answered over TCP: re-checked every second. */
  readonly #kept = new Map<string, Member>()
  #timer: NodeJS.Timeout | undefined
  readonly #counts = { suspects: 0, confirmed: 0, falsePositives: 0 }

  constructor(config: Config) {
    super()
    this.#connectTimeout = config.connectTimeout ?? 1000
    this.#performConnectTest = config.performConnectTest ?? true
  }

  override start(): void {
    this.#timer = setInterval(() => this.#recheckKept(), 1000)
    this.#timer.unref()
  }

  override stop(): void {
    clearInterval(this.#timer)
  }

  override memberAdded(member: Member): void {
    this.#kept.delete(memberId(member))
    super.memberAdded(member)
  }

  override memberDisappeared(member: Member, reason: string): void {
    if (reason !== 'timeout' || !this.#performConnectTest) {
      this.#kept.delete(memberId(member))
      super.memberDisappeared(member, reason)
      return
    }
    this.#check(member).then((alive) => {
      if (!alive) {
        this.#counts.confirmed++
        super.memberDisappeared(member, reason)
        return
      }
      this.#counts.falsePositives++
      this.#kept.set(memberId(member), member)
      this.ctx.logger.warn(
        { member: member.name, host: member.host, port: member.port },
        'membership timed out a member that still answers over TCP; keeping it',
      )
    })
  }

  override memberSuspect(member: Member, cause: CatteryError): void {
    const id = memberId(member)
    if (!this.ctx.members().some((m) => memberId(m) === id)) return
    this.#counts.suspects++
    this.#check(member).then((alive) => {
      if (alive || !this.ctx.members().some((m) => memberId(m) === id)) return
      this.#counts.confirmed++
      this.ctx.logger.info({ member: member.name, cause: cause.code }, 'suspect confirmed dead over TCP')
      this.#kept.delete(id)
      this.ctx.removeMember(member, 'crashed')
    })
  }

  override stats(): Record<string, number> {
    return { ...this.#counts, kept: this.#kept.size }
  }

  #check(member: Member): Promise<boolean> {
    const id = memberId(member)
    let p = this.#checking.get(id)
    if (!p) {
      p = this.ctx
        .probe(member, this.#connectTimeout)
        .then(
          (answer) => memberId(answer) === id,
          () => false,
        )
        .finally(() => this.#checking.delete(id))
      this.#checking.set(id, p)
    }
    return p
  }

  #recheckKept(): void {
    for (const member of this.#kept.values()) {
      this.#check(member).then((alive) => {
        if (alive || !this.#kept.delete(memberId(member))) return
        this.#counts.confirmed++
        super.memberDisappeared(member, 'timeout')
      })
    }
  }
}
