/**
 * A context's session manager settings from configuration: the node's `manager.*` and `session.*`
 * keys (or an application's own, node/config/app-config.ts), in the units the managers use
 * (minutes become seconds, filters become regular expressions).
 */
import { contextConfig } from '../config/app-config.ts'
import type { NodeConfig } from '../config/schema.ts'
import type { ManagerSettings } from '../session/managers.ts'
import { codes } from '../tribes/errors.ts'
import { parseSendOptions } from '../tribes/send-options.ts'

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
    backups: m.backups,
    mapSendOptions: parseSendOptions(m.mapSendOptions),
    rpcTimeout: m.rpcTimeout,
    terminateOnStartFailure: m.terminateOnStartFailure,
    accessTimeout: m.accessTimeout,
    antiEntropyInterval: m.antiEntropyInterval,
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
    readYourWrites: m.readYourWrites,
    readYourWritesTimeout: m.readYourWritesTimeout,
  }
}

/** Options of one context's manager in library mode: any key of the node's `manager` and `session`. */
export interface ManagerOptions {
  /** This member's route, the suffix of its session ids (Tomcat's jvmRoute). */
  jvmRoute: string
  manager?: Partial<NodeConfig['manager']>
  session?: Partial<Omit<NodeConfig['session'], 'cookie'>>
  /** Tribes' send flags for this context's replication: a number or names ('async', 'ack,sync'). */
  sendOptions?: number | string
}

/**
 * Library mode: a context's ManagerSettings from the same keys and defaults as the node's
 * configuration (docs/configuration.md); refused with CATTERY_ERR_BAD_MANAGER_OPTIONS naming each
 * bad key.
 */
export function managerOptions(o: ManagerOptions): ManagerSettings {
  const field = {
    ...(o.manager ? { manager: o.manager } : {}),
    ...(o.session ? { session: o.session } : {}),
    ...(o.sendOptions !== undefined ? { channel: { sendOptions: o.sendOptions } } : {}),
  }
  const c = contextConfig(field, undefined, codes.BAD_MANAGER_OPTIONS, 'invalid manager options', '')
  return managerSettings(o.jvmRoute, c)
}
