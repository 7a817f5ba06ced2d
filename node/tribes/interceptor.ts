/**
 * The interceptor stack. A send travels down from the head (the first configured interceptor) to the
 * transport; a received message, and membership events, travel up from the transport to the channel.
 * Each interceptor forwards by default, so a subclass overrides only what it changes.
 */
import type { Logger } from 'pino'
import type { CatteryError } from './errors.ts'
import type { Member } from './member.ts'

export interface OutgoingMessage {
  /** Send options (Tribes flags). */
  options: number
  /** Interceptor headers; travel in the frame header (msgpack), empty for most messages. */
  header: Record<string, unknown>
  /** The encoded payload (what interceptors compress, encrypt and split). */
  body: Uint8Array
}

export interface IncomingMessage {
  from: Member
  options: number
  header: Record<string, unknown>
  body: Uint8Array
  /**
   * Settles the sender's ACK: with SYNCHRONIZED_ACK it is called after the listeners ran, with an
   * error when the message was refused. Idempotent. An interceptor that swallows a message calls it.
   */
  done(error?: CatteryError): void
}

/** What the channel offers its interceptors. */
export interface InterceptorContext {
  readonly localMember: Member
  readonly logger: Logger
  /** The members currently in view (above the membership service, below no interceptor). */
  members(): Member[]
  /** A PING/PONG round trip over a fresh TCP connection; resolves with the member that answered. */
  probe(member: Pick<Member, 'host' | 'port'>, timeout: number): Promise<Member>
  /** Removes a member from membership; its disappearance then travels up the stack. */
  removeMember(member: Member, reason: string): void
  /** An asynchronous send failed after `send` resolved: the channel emits 'sendError'. */
  asyncFailure(error: CatteryError): void
}

export interface Link {
  sendMessage(to: Member[], message: OutgoingMessage): Promise<void>
  messageReceived(message: IncomingMessage): void
  memberAdded(member: Member): void
  memberDisappeared(member: Member, reason: string): void
  /** A failed send or a lost connection: the member may be gone. */
  memberSuspect(member: Member, cause: CatteryError): void
}

export abstract class Interceptor implements Link {
  abstract readonly name: string
  next!: Link
  previous!: Link
  protected ctx!: InterceptorContext

  init(ctx: InterceptorContext): void {
    this.ctx = ctx
  }

  start(): void | Promise<void> {}
  stop(): void | Promise<void> {}

  sendMessage(to: Member[], message: OutgoingMessage): Promise<void> {
    return this.next.sendMessage(to, message)
  }
  messageReceived(message: IncomingMessage): void {
    this.previous.messageReceived(message)
  }
  memberAdded(member: Member): void {
    this.previous.memberAdded(member)
  }
  memberDisappeared(member: Member, reason: string): void {
    this.previous.memberDisappeared(member, reason)
  }
  memberSuspect(member: Member, cause: CatteryError): void {
    this.previous.memberSuspect(member, cause)
  }
  /**
   * The member has left the channel's view for good (after any failure detector agreed). Called on
   * every interceptor, top to bottom; for dropping per-member state. `memberDisappeared` instead is a
   * report travelling up, which an interceptor above may still overrule.
   */
  memberLeft(_member: Member, _reason: string): void {}
  /** Counters for `channel.stats().interceptors[name]`. */
  stats(): Record<string, number> {
    return {}
  }
  /** Figures of one member of the view (e.g. what is queued for it), for `channel.memberDetails()`. */
  memberStats(_member: Member): Record<string, number> {
    return {}
  }
}
