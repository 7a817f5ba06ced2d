/**
 * The sending side of a replicated manager (Tomcat's ReplicationValve hands each request's changes to
 * the cluster manager, which sends them): a session message goes to the members the manager names
 * (`targets`: every member for the DeltaManager, a session's other owners for the BackupManager).
 * A message for every member joins the context's replication batch (replication-batch.ts): paced by
 * the channel's asyncWriteInterval with asynchronous send options, at the end of each turn with
 * synchronous ones, where each request waits for its batch's ACKs. A message for some members goes
 * on its own. A failed send is counted and logged, never thrown at the request that caused it; each
 * message it carried is reported to `failed` (the BackupManager repairs those sessions).
 */
import type { Logger } from 'pino'
import type { Channel } from '../tribes/channel-types.ts'
import type { CatteryError } from '../tribes/errors.ts'
import type { Member } from '../tribes/member.ts'
import { isAsync } from '../tribes/send-options.ts'
import type { MessageCounts, SessionMessage, SessionMessageType } from './messages.ts'
import { type Coalescing, ReplicationBatch } from './replication-batch.ts'

/** What replicate() gives when the message needs no wait (no target, or it joined a batch): shared. */
export const SENT: Promise<boolean> = Promise.resolve(true)

export interface ReplicationSenderOptions {
  channel: Channel
  contextPath: string
  sendOptions: number
  logger: Logger
  /** The manager's counts of sent messages, by type. */
  sent: MessageCounts
  /** The members a message goes to. */
  targets(message: SessionMessage): Member[]
  /** A message did not reach some of its targets (`err`: a ChannelSendError names them). */
  failed(message: SessionMessage, err: unknown): void
  /** How a batch merges the deltas of one session (absent: never). */
  coalescing?: Coalescing | undefined
}

export class ReplicationSender {
  readonly #o: ReplicationSenderOptions
  /** Messages to every member waiting to leave together. */
  readonly #batch: ReplicationBatch
  #failures = 0

  constructor(o: ReplicationSenderOptions) {
    this.#o = o
    this.#batch = new ReplicationBatch(
      o.contextPath,
      {
        send: (m) => this.#sendToAll(m),
        sendEncoded: (body, messages) => {
          const members = o.channel.members()
          if (members.length === 0) return SENT
          o.sent.batch++
          return this.#reported(o.channel.sendEncoded(members, body, o.sendOptions), 'batch', messages)
        },
      },
      // Asynchronous: paced as the channel's writes, so that under load one batch is one write.
      // Synchronous: every turn, as the channel writes a frame that waits for an ACK.
      isAsync(o.sendOptions) ? o.channel.asyncWriteInterval : 0,
      o.coalescing,
    )
  }

  /** Sends that failed (counted once per send, whatever it carried). */
  get failures(): number {
    return this.#failures
  }

  /**
   * Sends a session message to its targets. Resolves true when every target got it as the send
   * options ask (false: a send failed); SENT, the shared resolved promise, when there was nothing
   * to wait for (no target, or it joined a batch under asynchronous send options).
   */
  replicate(message: SessionMessage): Promise<boolean> {
    const { channel, sendOptions } = this.#o
    const to = this.#o.targets(message)
    if (to.length === 0) return SENT
    this.#o.sent[message.type]++
    if (to.length === channel.members().length) {
      if (!isAsync(sendOptions)) return this.#batch.addAwaited(message)
      this.#batch.add(message)
      return SENT
    }
    return this.#reported(channel.send(to, message, sendOptions), message.type, message)
  }

  /** Sends what waits in the batch now (before a stop). */
  flush(): void {
    this.#batch.flush()
  }

  #sendToAll(message: SessionMessage): Promise<boolean> {
    const { channel, sendOptions } = this.#o
    const members = channel.members()
    if (members.length === 0) return SENT
    return this.#reported(channel.send(members, message, sendOptions), message.type, message)
  }

  #reported(
    sent: Promise<void>,
    type: SessionMessageType,
    carried: SessionMessage | readonly SessionMessage[],
  ): Promise<boolean> {
    return sent.then(
      () => true,
      (err) => {
        this.#failures++
        this.#o.logger.warn(
          { code: (err as CatteryError).code, err: (err as Error).message, type },
          'replication failed',
        )
        if (!Array.isArray(carried)) this.#o.failed(carried as SessionMessage, err)
        else for (const m of carried) this.#o.failed(m, err)
        return false
      },
    )
  }
}
