/**
 * A context's session manager settings from configuration: the node's `manager.*` and `session.*`
 * keys (or an application's own, node/config/app-config.ts), in the units the managers use
 * (minutes become seconds, filters become regular expressions).
 */
import type { NodeConfig } from '../config/schema.ts'
import type { ManagerSettings } from '../session/managers.ts'

export interface ContextConfig {
  manager: NodeConfig['manager']
  session: NodeConfig['session']
  /** Parsed channel.sendOptions: how this context's replication is sent. */
  sendOptions: number
}

export function managerSettings(jvmRoute: string, c: ContextConfig): ManagerSettings {
  const m = c.manager
  const s = c.session
  return {
    type: m.type,
    jvmRoute,
    sessionTimeout: s.timeout < 0 ? -1 : Math.round(s.timeout * 60),
    maxActiveSessions: m.maxActiveSessions,
    processExpiresFrequency: m.processExpiresFrequency,
    backgroundProcessorDelay: m.backgroundProcessorDelay,
    policy: {
      maxAttributeSize: s.maxAttributeSize,
      maxSessionSize: s.maxSessionSize,
      maxAttributes: s.maxAttributes,
      maxValueDepth: s.maxValueDepth,
      maxInactiveInterval: s.maxTimeout < 0 ? -1 : Math.round(s.maxTimeout * 60),
      attributeNameFilter: m.sessionAttributeNameFilter
        ? new RegExp(m.sessionAttributeNameFilter)
        : undefined,
      recordAllActions: m.recordAllActions,
      trackInPlaceChanges: m.trackInPlaceChanges,
    },
    sendOptions: c.sendOptions,
    expireSessionsOnShutdown: m.expireSessionsOnShutdown,
    notifyListenersOnReplication: m.notifyListenersOnReplication,
    stateTransferTimeout: m.stateTransferTimeout,
    sendAllSessionsSize: m.sendAllSessionsSize,
    replication: { maxVersionStep: m.maxVersionStep, maxClockSkewMs: m.maxClockSkew * 1000 },
  }
}
