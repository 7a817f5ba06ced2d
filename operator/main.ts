#!/usr/bin/env node
/**
 * cattery-operator: turns SessionClusters into StatefulSets of nodes and reports their status.
 * Reads KUBECONFIG (or the in-cluster service account); see --help and docs/operator.md.
 */
import { KubeConfig } from '@kubernetes/client-node'
import Fastify from 'fastify'
import pino from 'pino'
import { SessionClusterController } from './controller/controller.ts'
import { LeaderElector } from './controller/leader-election.ts'
import { operatorMetrics } from './controller/metrics.ts'
import { OptionsError, parseOptions, USAGE } from './options.ts'

let options: ReturnType<typeof parseOptions>
try {
  options = parseOptions(process.argv.slice(2), process.env)
} catch (err) {
  if (err instanceof OptionsError) {
    process.stderr.write(`cattery-operator: ${err.message}\n\n${USAGE}`)
    process.exit(2)
  }
  throw err
}
if (options.help) {
  process.stdout.write(USAGE)
  process.exit(0)
}

const logger = pino({ level: options.logLevel, base: { name: 'cattery-operator' } })
const kc = new KubeConfig()
kc.loadFromDefault()
if (!kc.getCurrentCluster()) {
  logger.fatal('no Kubernetes API: set KUBECONFIG or run in a pod with a service account')
  process.exit(2)
}

const metrics = operatorMetrics()
const controller = new SessionClusterController(kc, {
  namespaces: options.namespaces,
  logger,
  metrics,
  operator: options.operator,
})
let stopping = false

const health = Fastify({ logger: false })
health.get('/healthz', async () => ({ ok: true }))
health.get('/readyz', async (_req, reply) => {
  const synced = controller.synced
  return reply.code(synced ? 200 : 503).send({ synced, leader: elector ? elector.leading : true })
})
const metricsServer = Fastify({ logger: false })
metricsServer.get('/metrics', async (_req, reply) =>
  reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
)

const elector = options.leaderElect
  ? new LeaderElector(
      kc,
      {
        namespace: options.leaderElectionNamespace,
        name: options.leaderElectionId,
        identity: options.identity,
        leaseDurationMs: options.leaseDurationMs,
        renewDeadlineMs: options.renewDeadlineMs,
        retryPeriodMs: options.retryPeriodMs,
      },
      {
        startedLeading: () => {
          metrics.leader.set({ name: options.leaderElectionId }, 1)
          logger.info({ event: 'leading' }, 'leading: reconciling')
          void controller.startReconciling()
        },
        stoppedLeading: () => {
          metrics.leader.set({ name: options.leaderElectionId }, 0)
          controller.stopReconciling()
          // Unlike controller-runtime, which exits: stay up as a standby with warm caches and campaign
          // again, so an apiserver outage longer than the renew deadline needs no restart of the pod.
          if (!stopping) logger.warn({ event: 'lost-lease' }, 'lost the lease; standing by')
        },
      },
      logger,
    )
  : undefined

async function shutdown(signal: string): Promise<void> {
  if (stopping) process.exit(1)
  stopping = true
  logger.info({ event: 'stopping', signal }, 'stopping')
  await elector?.stop()
  await controller.stop()
  await Promise.allSettled([health.close(), metricsServer.close()])
  logger.info({ event: 'stopped' }, 'stopped')
  process.exit(0)
}
process.on('SIGTERM', () => void shutdown('SIGTERM'))
process.on('SIGINT', () => void shutdown('SIGINT'))

await health.listen(options.healthAddress)
if (options.metricsAddress.port !== 0) await metricsServer.listen(options.metricsAddress)
logger.info(
  {
    event: 'started',
    namespaces: options.namespaces.map((n) => n || '*'),
    health: health.server.address(),
    metrics: options.metricsAddress.port ? metricsServer.server.address() : null,
    leaderElect: options.leaderElect,
    identity: options.identity,
  },
  'operator started',
)
await controller.startWatching()
if (elector) elector.start()
else void controller.startReconciling()
