/**
 * Cattery's public API (library mode), what `import { ... } from 'cattery'` gives: a channel, the
 * cluster that binds it to one session manager per context, the manager options (the node's keys and
 * defaults), the fastify session plugin (request.session, typed) with Tomcat's valves, the
 * express-session store, and the coded errors. Everything else is internal and may change.
 * docs/library.md shows it in use.
 */

export { Cluster } from './cluster/cluster.ts'
export type { AppOptions } from './server/contexts.ts'
export {
  type CatteryStore,
  type CatteryStoreOptions,
  type ExpressSessionData,
  type ExpressSessionModule,
  expressSessionStore,
} from './server/express-session-store.ts'
export { type ManagerOptions, managerOptions } from './server/manager-settings.ts'
export type { SessionHandle } from './server/session-handle.ts'
export {
  type CookieOptions,
  DEFAULT_REPLICATION_FILTER,
  default as sessionPlugin,
  type SessionPluginOptions,
  type ValveStats,
} from './server/session-plugin.ts'
export type { ClusterManager } from './session/cluster-manager.ts'
export { sessionCodes } from './session/errors.ts'
export type { ManagerKind, ManagerStats, SessionManager } from './session/manager.ts'
export type { ManagerSettings } from './session/managers.ts'
export type { Session } from './session/session.ts'
export { type ChannelInit, createChannel } from './tribes/channel.ts'
export type { Channel } from './tribes/channel-types.ts'
export { CatteryError, codes } from './tribes/errors.ts'
export type { Member } from './tribes/member.ts'
