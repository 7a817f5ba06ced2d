/**
 * The one contract between the cluster and a context's session manager (Tomcat's ClusterManager):
 * the cluster creates a manager per context (managers.ts), routes the context's messages to it, asks
 * it for what a joining member must hold, reads its statistics, starts and stops it. Every manager
 * implements it (StandardManager as the one that replicates nothing), so nothing outside a manager's
 * module needs to know which kind it is.
 */
import type { Member } from '../tribes/member.ts'
import type { SessionManager } from './manager.ts'
import type { MessageCounts, SessionMessage } from './messages.ts'
import type { TransferRequest } from './state-transfer.ts'

/** A session message for a context's manager: all but a joiner's request for state (see sendState). */
export type ManagerMessage = Exclude<SessionMessage, { type: 'get-all' }>

export interface ClusterManager extends SessionManager {
  /**
   * A session message of this context from another member, sent with `sendOptions` (a manager that
   * replicates nothing ignores it). A promise: the sender's synchronous ACK waits for it.
   */
  receive(message: ManagerMessage, from: Member, sendOptions?: number): Promise<void> | undefined
  /**
   * Donor side of state transfer: sends the joining member `to` what it must hold of this context.
   * False when this manager keeps nothing for other members: the cluster answers no-context-manager.
   */
  sendState(to: Member, request: TransferRequest): Promise<boolean>
  /** Session messages sent and received, by type (none for a manager that replicates nothing). */
  messageCounts(): { readonly sent: Partial<MessageCounts>; readonly received: Partial<MessageCounts> }
}
