/**
 * The cluster side of a node (Tomcat's SimpleTcpCluster with its ClusterSessionListener): creates the
 * session manager of each context from the context's settings, starts and stops them, and routes every
 * session message to the manager of its context. A joiner's request for state goes to the manager's
 * sendState; for a context this node does not have, or whose manager keeps nothing for others, the
 * answer is no-context-manager, so the joiner does not wait for it.
 *
 * A pushed copy (`backup`: the BackupManager's repair and hand-off, anti-entropy) for such a context
 * is never acknowledged as if it were held: when its sender waits for it to be handled it is refused
 * (CATTERY_ERR_NO_CONTEXT_MANAGER, a FAIL_ACK to the sender, which keeps its copy). Any other message
 * for such a context is dropped, as Tomcat's ClusterSessionListener drops it: a DeltaManager sends
 * its changes to every member and expects no copy where the context is not deployed (a FAIL_ACK
 * there would fail every synchronous write), and the BackupManager sends only to the members that
 * announced the context (session/map-members.ts). Both are counted (`unrouted`); the membership
 * notices of a context (`leaving`, `map-member`) are acknowledged and do nothing.
 */
import type { Logger } from 'pino'
import type { ClusterManager } from '../session/cluster-manager.ts'
import { createManager, type ManagerSettings } from '../session/managers.ts'
import { isSessionMessage, SESSION_MESSAGE, type SessionMessage } from '../session/messages.ts'
import { transferRequest } from '../session/state-transfer.ts'
import type { Channel, ChannelListener, ReceivedMessage } from '../tribes/channel-types.ts'
import { CatteryError, codes } from '../tribes/errors.ts'
import { describeMember, type Member } from '../tribes/member.ts'
import { SendOption, wantsSyncAck } from '../tribes/send-options.ts'

/** Notices about who has a context: nothing to do for a member without it (see the header). */
const MEMBERSHIP_NOTICES: ReadonlySet<string> = new Set(['leaving', 'map-member'])

export class Cluster {
  readonly channel: Channel
  readonly #managers = new Map<string, ClusterManager>()
  readonly #logger: Logger
  readonly #listener: ChannelListener
  /**
   * Messages for a context this node does not serve (none, or one that replicates nothing): those
   * refused (their sender waited for them to be handled) and those dropped (asynchronous).
   */
  readonly unrouted = { refused: 0, dropped: 0 }

  constructor(channel: Channel, logger: Logger) {
    this.channel = channel
    this.#logger = logger
    this.#listener = {
      accept: (m) => isSessionMessage(m.payload),
      messageReceived: (m) => this.#route(m),
    }
    channel.addChannelListener(this.#listener)
  }

  /** A context at `contextPath`: its manager, created from its settings. */
  addContext(contextPath: string, settings: ManagerSettings): ClusterManager {
    const manager = createManager(contextPath, settings, this.channel, this.#logger)
    this.#managers.set(contextPath, manager)
    return manager
  }

  /** Forgets the context at `contextPath` (its manager must be stopped); its messages are dropped after. */
  removeContext(contextPath: string): void {
    this.#managers.delete(contextPath)
  }

  managers(): ClusterManager[] {
    return [...this.#managers.values()]
  }

  /** Every manager holds the cluster's sessions. */
  get ready(): boolean {
    return this.managers().every((m) => m.ready)
  }

  /** Starts every manager; resolves once each holds the cluster's sessions (state transfer). */
  async start(): Promise<void> {
    await Promise.all(this.managers().map((m) => m.start()))
  }

  async stop(): Promise<void> {
    await Promise.all(this.managers().map((m) => m.stop()))
  }

  #route(m: ReceivedMessage): Promise<void> | undefined {
    if (!isSessionMessage(m.payload)) return
    const message = m.payload
    const manager = this.#managers.get(message.ctx)
    if (message.type === 'get-all') return this.#giveState(manager, m.from, message)
    if (manager?.distributable) return manager.receive(message, m.from, m.options)
    if (MEMBERSHIP_NOTICES.has(message.type)) return
    if (message.type !== 'backup' || !wantsSyncAck(m.options)) {
      this.unrouted.dropped++
      return
    }
    this.unrouted.refused++
    this.#logger.debug(
      { ctx: message.ctx, type: message.type, from: describeMember(m.from) },
      'refused a pushed session copy for a context this node does not serve',
    )
    return Promise.reject(
      new CatteryError(
        codes.NO_CONTEXT_MANAGER,
        `no session manager for context ${message.ctx} on this member: the pushed copies are not held`,
      ),
    )
  }

  async #giveState(
    manager: ClusterManager | undefined,
    to: Member,
    request: SessionMessage & { type: 'get-all' },
  ): Promise<void> {
    if (await manager?.sendState(to, transferRequest(request))) return
    await this.channel
      .send(
        to,
        { k: SESSION_MESSAGE, type: 'no-context-manager', ctx: request.ctx, transfer: request.transfer },
        SendOption.USE_ACK,
      )
      .catch((err) =>
        this.#logger.warn({ err: (err as Error).message }, 'cannot answer a state transfer request'),
      )
  }
}
