/**
 * The bottom of the stack: one PeerConnection per destination member, a Receiver for inbound frames,
 * and the translation between frames and the stack's messages. A MESSAGE from a member that is not in
 * the channel's view is refused (FAIL_ACK NOT_A_MEMBER when the sender waits for one) and counted —
 * unless the membership is pinging that sender right now (it just pinged us, or this message made us
 * ask): a member admits a peer once the peer answered its ping, so the peer that admitted it first
 * may send before its own answer arrived. Such a message waits for the answer (at most the ping's
 * timeout; at most MAX_WAITING_FRAMES frames and MAX_WAITING_BYTES bytes wait at once, beyond which
 * they are refused as before), then is delivered in order or refused.
 */
import type { Logger } from 'pino'
import { decodePlain, encodePlain } from '../codec.ts'
import { CatteryError, ChannelSendError, codes } from '../errors.ts'
import type { IncomingMessage, OutgoingMessage } from '../interceptor.ts'
import { describeMember, type Member, memberId } from '../member.ts'
import type { ReceiverOptions, SenderOptions } from '../options.ts'
import type { ChannelSecurity } from '../security/channel-security.ts'
import { wantsAck, wantsSyncAck } from '../send-options.ts'
import { type Frame, FrameKind, frameLength } from './frame.ts'
import { PeerConnection } from './peer-connection.ts'
import { Receiver } from './receiver.ts'

export interface TransportEvents {
  message(message: IncomingMessage): void
  suspect(member: Member, cause: CatteryError): void
  bye(member: Member): void
  /** A member pinged us. */
  pinged(member: Member): void
  /** This member, encoded, for HELLO and PONG frames. */
  localWire(): Buffer
  /** Whether a member is in the channel's view (messages from others are refused). */
  knows(member: Member): boolean
  /** The membership's ping of a member not in the view yet, if one is under way. */
  admission?(member: Member): Promise<void> | undefined
}

/** Messages from senders being admitted that may wait at once (see the top of this file). */
const MAX_WAITING_FRAMES = 1024
const MAX_WAITING_BYTES = 8 * 1024 * 1024

export interface TransportStats {
  messagesSent: number
  bytesSent: number
  messagesReceived: number
  bytesReceived: number
  sendFailures: number
}

const EMPTY_HEADER: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>

export class Transport {
  readonly #sender: SenderOptions
  readonly #maxFrameBytes: number
  readonly #events: TransportEvents
  readonly #logger: Logger
  readonly #security: ChannelSecurity
  readonly #connections = new Map<string, PeerConnection>()
  readonly receiver: Receiver
  #sweep: NodeJS.Timeout | undefined
  #waitingFrames = 0
  #waitingBytes = 0
  readonly counters: TransportStats = {
    messagesSent: 0,
    bytesSent: 0,
    messagesReceived: 0,
    bytesReceived: 0,
    sendFailures: 0,
  }

  constructor(
    receiver: ReceiverOptions,
    sender: SenderOptions,
    events: TransportEvents,
    logger: Logger,
    security: ChannelSecurity,
  ) {
    this.#security = security
    this.#sender = sender
    this.#maxFrameBytes = receiver.maxFrameBytes
    this.#events = events
    this.#logger = logger
    this.receiver = new Receiver(
      receiver,
      {
        message: (from, frame, reply) => this.#onMessage(from, frame, reply),
        pong: (from) => {
          if (from) events.pinged(from)
          return events.localWire()
        },
        bye: (member) => events.bye(member),
      },
      logger,
      security,
    )
  }

  async start(): Promise<number> {
    const port = await this.receiver.start()
    const every = Math.max(20, Math.min(500, Math.floor(this.#sender.timeout / 10)))
    this.#sweep = setInterval(() => this.#sweepAcks(), every).unref()
    return port
  }

  async stop(): Promise<void> {
    clearInterval(this.#sweep)
    for (const c of this.#connections.values()) c.close()
    this.#connections.clear()
    await this.receiver.stop()
  }

  /** Connects ahead of the first message, so a peer's crash closes a live connection at once. */
  warm(member: Member): void {
    this.#connection(member).warm()
  }

  /** Closes the connection to a member that left; sends still queued to it fail with MEMBER_GONE. */
  forget(member: Member): void {
    const id = memberId(member)
    this.#connections.get(id)?.close()
    this.#connections.delete(id)
  }

  send(to: Member[], message: OutgoingMessage): Promise<void> {
    const header = isEmpty(message.header) ? undefined : encodePlain(message.header)
    const size = frameLength(header, message.body)
    if (size > this.#maxFrameBytes) {
      const err = new CatteryError(
        codes.MESSAGE_TOO_LARGE,
        `a message of ${size} bytes exceeds maxFrameBytes ${this.#maxFrameBytes}; add the Fragmentation interceptor to send it`,
      )
      return Promise.reject(new ChannelSendError(to.map((m) => ({ member: describeMember(m), error: err }))))
    }
    const ack = wantsAck(message.options)
    this.counters.messagesSent += to.length
    this.#countBytes(size * to.length)
    if (to.length === 1) {
      const member = to[0] as Member
      return this.#connection(member)
        .send(FrameKind.MESSAGE, message.options, header, message.body, ack)
        .catch((err: CatteryError) => {
          throw this.#failed([{ member, err }])
        })
    }
    return Promise.allSettled(
      to.map((m) => this.#connection(m).send(FrameKind.MESSAGE, message.options, header, message.body, ack)),
    ).then((results) => {
      const failures: Array<{ member: Member; err: CatteryError }> = []
      results.forEach((r, i) => {
        if (r.status === 'rejected') failures.push({ member: to[i] as Member, err: r.reason as CatteryError })
      })
      if (failures.length) throw this.#failed(failures)
    })
  }

  #countBytes(n: number): void {
    this.counters.bytesSent += n
  }

  #failed(failures: Array<{ member: Member; err: CatteryError }>): ChannelSendError {
    this.counters.sendFailures += failures.length
    for (const { member, err } of failures) {
      if (err.code === codes.ACK_TIMEOUT) this.#events.suspect(member, err)
    }
    return new ChannelSendError(failures.map((f) => ({ member: describeMember(f.member), error: f.err })))
  }

  #connection(member: Member): PeerConnection {
    const id = memberId(member)
    let c = this.#connections.get(id)
    if (!c) {
      c = new PeerConnection(
        member,
        {
          timeout: this.#sender.timeout,
          maxRetryAttempts: this.#sender.maxRetryAttempts,
          asyncWriteInterval: this.#sender.asyncWriteInterval,
          maxFrameBytes: this.#maxFrameBytes,
          highWaterMark: 16 * 1024 * 1024,
          failFastMs: 1000,
        },
        {
          hello: () => this.#events.localWire(),
          handshake: () => this.#security.client(),
          refused: (m, err) => {
            this.#security.count(err.code)
            this.#logger.warn(
              { code: err.code, member: describeMember(m), err: err.message },
              'refused a member that failed authentication',
            )
          },
          lost: (m, cause) => {
            this.#logger.debug({ member: describeMember(m), code: cause.code }, 'connection to member broken')
            this.#events.suspect(m, cause)
          },
        },
      )
      this.#connections.set(id, c)
    }
    return c
  }

  #sweepAcks(): void {
    const now = Date.now()
    for (const c of this.#connections.values()) c.sweep(now)
  }

  #onMessage(from: Member, frame: Frame, reply: (error?: CatteryError) => void): void {
    // Decoded first, on the receiver's stack: a malformed header fails the connection as any bad
    // frame does, also when the message would have waited for its sender's admission.
    let header = EMPTY_HEADER
    if (frame.header.length) {
      const decoded = decodePlain(frame.header)
      if (typeof decoded !== 'object' || decoded === null || Array.isArray(decoded)) {
        throw new CatteryError(codes.FRAME_BAD_HEADER, 'frame header is not a map')
      }
      header = decoded as Record<string, unknown>
    }
    if (this.#events.knows(from)) {
      this.#deliver(from, frame, header, reply)
      return
    }
    this.#events.pinged(from) // a member we have not heard of yet is asked at once
    const admission = this.#events.admission?.(from)
    const bytes = frame.header.length + frame.body.length
    if (
      !admission ||
      this.#waitingFrames >= MAX_WAITING_FRAMES ||
      this.#waitingBytes + bytes > MAX_WAITING_BYTES
    ) {
      this.#refuse(from, frame, reply)
      return
    }
    // Frames of one sender wait on the same ping, so they are handled in the order they came.
    this.#waitingFrames++
    this.#waitingBytes += bytes
    const settle = () => {
      this.#waitingFrames--
      this.#waitingBytes -= bytes
      try {
        if (this.#events.knows(from)) this.#deliver(from, frame, header, reply)
        else this.#refuse(from, frame, reply)
      } catch (err) {
        // Off the receiver's stack, so logged here (a sender waiting for an ACK times out).
        this.#logger.error(
          { from: describeMember(from), err: (err as Error).message },
          'a message that waited for its sender to be admitted failed',
        )
      }
    }
    admission.then(settle, settle)
  }

  #refuse(from: Member, frame: Frame, reply: (error?: CatteryError) => void): void {
    this.#security.count(codes.NOT_A_MEMBER)
    this.#logger.warn(
      { code: codes.NOT_A_MEMBER, from: describeMember(from) },
      'refused a message from a sender that is not in the membership view',
    )
    if (wantsAck(frame.flags) || wantsSyncAck(frame.flags))
      reply(new CatteryError(codes.NOT_A_MEMBER, `${describeMember(from)} is not a member of this view`))
  }

  #deliver(
    from: Member,
    frame: Frame,
    header: Record<string, unknown>,
    reply: (error?: CatteryError) => void,
  ): void {
    this.counters.messagesReceived++
    this.counters.bytesReceived += frame.header.length + frame.body.length + 20
    const options = frame.flags
    let done: (error?: CatteryError) => void = noop
    if (wantsSyncAck(options)) {
      let settled = false
      done = (error) => {
        if (settled) return
        settled = true
        reply(error)
      }
    } else if (wantsAck(options)) reply()
    this.#events.message({ from, options, header, body: frame.body, done })
  }
}

function noop(): void {}

function isEmpty(o: Record<string, unknown>): boolean {
  for (const _ in o) return false
  return true
}
