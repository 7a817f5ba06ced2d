/**
 * Tomcat's DeltaManager: every member holds every session of the context. Every message about a
 * session goes to every member; a joining member receives all sessions from one ready member
 * (state-transfer.ts) and is ready only then; an idle session's expiry is announced by the member
 * that served it last. The rest — replication, the replica log, read-your-writes — is shared with
 * the BackupManager (replicated-manager.ts).
 */
import { ReplicatedManager, type ReplicatedManagerOptions } from './replicated-manager.ts'

export type DeltaManagerOptions = ReplicatedManagerOptions

export class DeltaManager extends ReplicatedManager {
  readonly kind = 'delta' as const
}
