/** Which manager serves a context: the one its settings name (manager.type), created with them. */
import type { Logger } from 'pino'
import type { Channel } from '../tribes/channel-types.ts'
import type { ClusterManager } from './cluster-manager.ts'
import { DeltaManager, type DeltaManagerOptions } from './delta-manager.ts'
import type { ManagerKind } from './manager.ts'
import { StandardManager } from './standard-manager.ts'

/** A context's manager settings (the node's manager.* and session.* configuration). */
export interface ManagerSettings extends Omit<DeltaManagerOptions, 'contextPath' | 'logger' | 'channel'> {
  type: ManagerKind
}

export function createManager(
  contextPath: string,
  settings: ManagerSettings,
  channel: Channel,
  logger: Logger,
): ClusterManager {
  const { type, ...options } = settings
  switch (type) {
    case 'standard':
      return new StandardManager({ ...options, contextPath, logger })
    case 'delta':
      return new DeltaManager({ ...options, contextPath, logger, channel })
  }
}
