/**
 * The node's application server: its contexts (each application with its own session manager,
 * contexts.ts) on the HTTP port, and the admin server on its own port. The app base (apps.dir) is
 * loaded first, then the farm's applications (from a ready member, node/farm/); as in Tomcat, the HTTP
 * port opens only after every context holds the cluster's sessions, so no request reaches a node that
 * would not find its session or its application.
 */
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { Cluster } from '../cluster/cluster.ts'
import type { NodeConfig } from '../config/schema.ts'
import { FarmWarDeployer } from '../farm/farm-war-deployer.ts'
import type { Channel } from '../tribes/channel-types.ts'
import { createAdmin } from './admin.ts'
import { tokenSource } from './admin-auth.ts'
import { loadAppBase, type RefusedApp } from './app-base.ts'
import { Contexts } from './contexts.ts'
import type { ValveStats } from './session-plugin.ts'

export interface NodeHost {
  readonly server: http.Server
  readonly admin: FastifyInstance
  readonly cluster: Cluster
  readonly contexts: Contexts
  readonly farm: FarmWarDeployer
  start(): Promise<{ httpPort: number; adminPort: number }>
  stop(): Promise<void>
}

/** Fastify's keep-alive default, which the node's HTTP server had before contexts were instances. */
const KEEP_ALIVE_TIMEOUT_MS = 72_000

export function createNodeHost(config: NodeConfig, channel: Channel, logger: Logger): NodeHost {
  const cluster = new Cluster(channel, logger)
  const valves = new Map<string, ValveStats>()
  let refused: RefusedApp[] = []
  let serving = false
  const contexts = new Contexts({
    cluster,
    logger,
    jvmRoute: config.name,
    replicationFilter: config.replicationValve.filter,
    jvmRouteBinder: config.jvmRouteBinder.enabled,
    valves,
  })
  const { maxArchiveBytes, maxUnpackedBytes, maxEntries } = config.apps
  const limits = { maxArchiveBytes, maxUnpackedBytes, maxEntries }
  const farmBase = path.join(os.tmpdir(), `cattery-${config.name}`, 'farm')
  const farm = new FarmWarDeployer({
    channel,
    contexts,
    config,
    logger: logger.child({ component: 'farm' }),
    deployDir: config.farm.deployDir ?? path.join(farmBase, 'deploy'),
    tempDir: config.farm.tempDir ?? path.join(farmBase, 'temp'),
    watchDir: config.farm.watchEnabled ? config.farm.watchDir : undefined,
    watchIntervalMs: Math.max(
      50,
      Math.round(config.farm.processDeployFrequency * config.manager.backgroundProcessorDelay * 1000),
    ),
    limits,
    catchUpTimeoutMs: config.farm.catchUpTimeout * 1000,
  })
  const server = http.createServer(contexts.handle)
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS
  const admin = createAdmin({
    name: config.name,
    cluster,
    valves,
    applications: () => ({ deployed: contexts.list(), refused }),
    farm,
    maxArchiveBytes,
    token: tokenSource(config.admin, (problem) =>
      logger.warn({ event: 'admin-token-file', problem }, 'admin token file'),
    ),
    open: config.admin.open,
    showSessionValues: config.admin.showSessionValues,
    logger,
    serving: () => serving,
  })

  return {
    server,
    admin,
    cluster,
    contexts,
    farm,
    async start() {
      await admin.listen({ host: config.admin.host, port: config.admin.port })
      const { dir, workDir } = config.apps
      if (dir) {
        refused = await loadAppBase({
          dir,
          workDir: workDir ?? path.join(os.tmpdir(), `cattery-${config.name}`, 'apps'),
          limits,
          config,
          contexts,
          logger,
        })
      }
      await farm.init()
      await channel.start()
      // The cluster's farm applications, before their managers start (and fetch their sessions).
      await farm.catchUp()
      contexts.markStarted()
      await cluster.start()
      channel.setReady(true)
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(config.http.port, config.http.host, () => {
          server.off('error', reject)
          resolve()
        })
      })
      serving = true
      const port = (s: http.Server) => (s.address() as { port: number }).port
      return { httpPort: port(server), adminPort: port(admin.server) }
    },
    async stop() {
      serving = false
      channel.setReady(false)
      await farm.stop()
      // Stop taking requests (idle keep-alive connections close), then let those in flight finish.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeIdleConnections()
      await contexts.close()
      server.closeAllConnections()
      await closed
      await cluster.stop()
      await channel.stop() // queued replication goes out, then the departure is announced
      await admin.close()
    },
  }
}
