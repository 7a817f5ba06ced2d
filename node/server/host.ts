/**
 * The node's application server: its contexts (each with its own session manager) on the HTTP port,
 * and the admin server on its own port. As in Tomcat, the HTTP port opens only after every context
 * holds the cluster's sessions, so no request reaches a node that would not find its session.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { Cluster } from '../cluster/cluster.ts'
import type { NodeConfig } from '../config/schema.ts'
import type { ManagerSettings } from '../session/managers.ts'
import type { Channel } from '../tribes/channel-types.ts'
import { createAdmin } from './admin.ts'
import { tokenSource } from './admin-auth.ts'
import { demoRoutes } from './demo-context.ts'
import sessionPlugin, { newValveStats, type ValveStats } from './session-plugin.ts'

export interface NodeHost {
  readonly app: FastifyInstance
  readonly admin: FastifyInstance
  readonly cluster: Cluster
  start(): Promise<{ httpPort: number; adminPort: number }>
  stop(): Promise<void>
}

/** `sendOptions`: the parsed channel.sendOptions, used for session replication. */
export function createNodeHost(
  config: NodeConfig,
  sendOptions: number,
  channel: Channel,
  logger: Logger,
): NodeHost {
  const cluster = new Cluster(channel, logger)
  const valves = new Map<string, ValveStats>()
  let serving = false
  // Request logs would be one line per request: the http logger keeps warnings and errors only.
  const app = Fastify({
    loggerInstance: logger.child({ component: 'http' }, { level: 'warn' }) as FastifyBaseLogger,
  }) as unknown as FastifyInstance
  const admin = createAdmin({
    name: config.name,
    cluster,
    valves,
    token: tokenSource(config.admin, (problem) =>
      logger.warn({ event: 'admin-token-file', problem }, 'admin token file'),
    ),
    open: config.admin.open,
    showSessionValues: config.admin.showSessionValues,
    logger,
    serving: () => serving,
  })

  const settings = managerSettings(config, sendOptions)
  const mount = (path: string, routes: (app: FastifyInstance) => Promise<void>) => {
    const manager = cluster.addContext(path, settings)
    const stats = newValveStats()
    valves.set(path, stats)
    app.register(
      async (ctx) => {
        await ctx.register(sessionPlugin, {
          manager,
          jvmRoute: config.name,
          cookie: { ...config.session.cookie, path: config.session.cookie.path ?? path },
          replicationFilter: new RegExp(config.replicationValve.filter),
          jvmRouteBinder: config.jvmRouteBinder.enabled,
          stats,
        })
        await ctx.register(routes)
      },
      { prefix: path },
    )
  }
  mount('/demo', demoRoutes(config.name))

  return {
    app,
    admin,
    cluster,
    async start() {
      await admin.listen({ host: config.admin.host, port: config.admin.port })
      await channel.start()
      await cluster.start()
      channel.setReady(true)
      await app.listen({ host: config.http.host, port: config.http.port })
      serving = true
      const port = (f: FastifyInstance) => (f.server.address() as { port: number }).port
      return { httpPort: port(app), adminPort: port(admin) }
    },
    async stop() {
      serving = false
      channel.setReady(false)
      await app.close() // stop taking requests, finish those in flight
      await cluster.stop()
      await channel.stop() // queued replication goes out, then the departure is announced
      await admin.close()
    },
  }
}

/** The settings of every context's session manager, from the node's configuration. */
function managerSettings(config: NodeConfig, sendOptions: number): ManagerSettings {
  const m = config.manager
  return {
    type: m.type,
    jvmRoute: config.name,
    sessionTimeout: config.session.timeout < 0 ? -1 : Math.round(config.session.timeout * 60),
    maxActiveSessions: m.maxActiveSessions,
    processExpiresFrequency: m.processExpiresFrequency,
    backgroundProcessorDelay: m.backgroundProcessorDelay,
    policy: {
      maxAttributeSize: config.session.maxAttributeSize,
      maxSessionSize: config.session.maxSessionSize,
      maxAttributes: config.session.maxAttributes,
      maxValueDepth: config.session.maxValueDepth,
      maxInactiveInterval: config.session.maxTimeout < 0 ? -1 : Math.round(config.session.maxTimeout * 60),
      attributeNameFilter: m.sessionAttributeNameFilter
        ? new RegExp(m.sessionAttributeNameFilter)
        : undefined,
      recordAllActions: m.recordAllActions,
      trackInPlaceChanges: m.trackInPlaceChanges,
    },
    sendOptions,
    expireSessionsOnShutdown: m.expireSessionsOnShutdown,
    notifyListenersOnReplication: m.notifyListenersOnReplication,
    stateTransferTimeout: m.stateTransferTimeout,
    sendAllSessionsSize: m.sendAllSessionsSize,
    replication: { maxVersionStep: m.maxVersionStep, maxClockSkewMs: m.maxClockSkew * 1000 },
  }
}
