/** Which manager serves a context: the one its settings name (manager.type), created with them. */
import type { Logger } from 'pino'
import type { Channel } from '../tribes/channel-types.ts'
import { BackupManager } from './backup-manager.ts'
import type { ClusterManager } from './cluster-manager.ts'
import { DeltaManager, type DeltaManagerOptions } from './delta-manager.ts'
import type { ManagerKind } from './manager.ts'
import { StandardManager } from './standard-manager.ts'

/** A context's manager settings (the node's manager.* and session.* configuration). */
export interface ManagerSettings extends Omit<DeltaManagerOptions, 'contextPath' | 'logger' | 'channel'> {
  type: ManagerKind
  /** BackupManager: backups per session (k, default 1). */
  backups?: number
  /** BackupManager: its send options (Tomcat's mapSendOptions, default 6); sendOptions is the DeltaManager's. */
  mapSendOptions?: number
  /** BackupManager: how long a request waits for a session's copy from its owners, ms (15000). */
  rpcTimeout?: number
  /** BackupManager: a start whose state transfer does not complete fails (Tomcat's terminateOnStartFailure; false). */
  terminateOnStartFailure?: boolean
  /** BackupManager: Tomcat's accessTimeout, ms (5000); accepted, no effect (backup-manager.ts). */
  accessTimeout?: number
}

export function createManager(
  contextPath: string,
  settings: ManagerSettings,
  channel: Channel,
  logger: Logger,
): ClusterManager {
  const { type, backups, mapSendOptions, rpcTimeout, terminateOnStartFailure, accessTimeout, ...options } =
    settings
  switch (type) {
    case 'standard':
      return new StandardManager({ ...options, contextPath, logger })
    case 'delta':
      return new DeltaManager({ ...options, contextPath, logger, channel })
    case 'backup':
      return new BackupManager({
        ...options,
        sendOptions: mapSendOptions ?? 6,
        backups: backups ?? 1,
        ...(rpcTimeout !== undefined ? { rpcTimeout } : {}),
        ...(terminateOnStartFailure !== undefined ? { terminateOnStartFailure } : {}),
        ...(accessTimeout !== undefined ? { accessTimeout } : {}),
        contextPath,
        logger,
        channel,
      })
  }
}
