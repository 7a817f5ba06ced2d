/**
 * Binds the channel to the session managers (Tomcat's ClusterSessionListener): routes every session
 * message to the manager of its context, and answers a state-transfer request for a context this
 * node does not have with no-context-manager, so the joiner does not wait for it.
 */
import type { Logger } from 'pino'
import { DeltaManager } from '../session/delta-manager.ts'
import type { SessionManager } from '../session/manager.ts'
import { isSessionMessage, SESSION_MESSAGE } from '../session/messages.ts'
import type { Channel, ChannelListener, ReceivedMessage } from '../tribes/channel-types.ts'
import { SendOption } from '../tribes/send-options.ts'

export class Cluster {
  readonly channel: Channel
  readonly #managers = new Map<string, SessionManager>()
  readonly #logger: Logger
  readonly #listener: ChannelListener

  constructor(channel: Channel, logger: Logger) {
    this.channel = channel
    this.#logger = logger
    this.#listener = {
      accept: (m) => isSessionMessage(m.payload),
      messageReceived: (m) => this.#route(m),
    }
    channel.addChannelListener(this.#listener)
  }

  register(manager: SessionManager): void {
    this.#managers.set(manager.contextPath, manager)
  }

  managers(): SessionManager[] {
    return [...this.#managers.values()]
  }

  /** Every manager holds the cluster's sessions. */
  get ready(): boolean {
    return this.managers().every((m) => m.ready)
  }

  #route(m: ReceivedMessage): Promise<void> | undefined {
    if (!isSessionMessage(m.payload)) return
    const message = m.payload
    const manager = this.#managers.get(message.ctx)
    if (manager instanceof DeltaManager) return manager.receive(message, m.from)
    if (message.type === 'get-all') {
      return this.channel
        .send(
          m.from,
          { k: SESSION_MESSAGE, type: 'no-context-manager', ctx: message.ctx, transfer: message.transfer },
          SendOption.USE_ACK,
        )
        .catch((err) =>
          this.#logger.warn({ err: (err as Error).message }, 'cannot answer a state transfer request'),
        )
    }
    return undefined
  }
}
