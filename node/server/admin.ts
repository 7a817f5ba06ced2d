/**
 * The admin server, on its own port: liveness, readiness (200 only once membership runs and every
 * context holds the cluster's sessions), status, Prometheus metrics, sessions as Tomcat's
 * manager application shows them (read without touching them), and the live dashboard (dashboard/).
 * Closed by default: everything but /livez, /readyz and the dashboard page's files needs the bearer
 * token, or a loopback address, or admin.open (admin-auth.ts); /sessions/<id> shows attribute names
 * and encoded sizes, values only with showSessionValues.
 */
import Fastify, { type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Cluster } from '../cluster/cluster.ts'
import type { FarmWarDeployer } from '../farm/farm-war-deployer.ts'
import { encode } from '../tribes/codec.ts'
import { codes } from '../tribes/errors.ts'
import { farmRoutes } from './admin-apps.ts'
import { decide, isLoopback } from './admin-auth.ts'
import type { RefusedApp } from './app-base.ts'
import type { ContextInfo } from './contexts.ts'
import { DashboardStreams } from './dashboard/event-stream.ts'
import { MembershipLog } from './dashboard/membership-log.ts'
import { dashboardRoutes } from './dashboard/routes.ts'
import { type SnapshotInput, Snapshots, snapshotOf } from './dashboard/snapshot.ts'
import { createMetrics } from './metrics.ts'
import type { ValveStats } from './session-plugin.ts'
import { nodeStatus, type StatusSource } from './status.ts'

export interface AdminOptions {
  name: string
  cluster: Cluster
  valves: Map<string, ValveStats>
  /** The deployed applications and those refused (with their code and reason). */
  applications?: () => { deployed: ContextInfo[]; refused: RefusedApp[] }
  /** The farm: its /status section, and PUT / DELETE /apps/<name> (admin-apps.ts). */
  farm?: FarmWarDeployer
  /** The largest archive PUT /apps/<name> takes (apps.maxArchiveBytes). */
  maxArchiveBytes?: number
  /** The configured token now (admin.token or admin.tokenFile), if any. */
  token: () => string | undefined
  /** Without a token, answer everyone on a non-loopback address too (admin.open). */
  open?: boolean
  /** /sessions/<id> shows attribute values (admin.showSessionValues). */
  showSessionValues?: boolean
  logger?: Logger
  /** False while the node is starting or stopping. */
  serving: () => boolean
}

export function createAdmin(o: AdminOptions): FastifyInstance {
  const app = Fastify({ logger: false })
  const { channel } = o.cluster
  const ready = () => channel.started && o.serving() && o.cluster.ready
  const statusSource: StatusSource = { ...o, ready }
  const membershipLog = new MembershipLog(channel)
  const observe = (): SnapshotInput => ({
    now: Date.now(),
    status: nodeStatus(statusSource),
    local: channel.started ? channel.localMember : undefined,
    members: channel.memberDetails(),
    events: membershipLog.recent(),
  })
  const snapshots = new Snapshots(observe)
  const streams = new DashboardStreams({ snapshot: () => snapshots.next() })
  // /metrics reads the page's figures from a snapshot of its own (no rates), taken the same way.
  const metrics = createMetrics(o.cluster, o.valves, {
    snapshot: () => snapshotOf(observe(), undefined),
    membershipLog,
    streams: () => streams.stats(),
  })
  app.addHook('onClose', async () => membershipLog.close())

  app.addHook('onRequest', async (req, reply) => {
    const address = (app.server.address() as { address?: string } | null)?.address
    const path = req.url.split('?', 1)[0] as string
    const write = req.method !== 'GET' && req.method !== 'HEAD'
    const d = decide(path, req.headers.authorization, { token: o.token(), address, open: !!o.open }, write)
    if (d.allow) return
    return reply
      .code(401)
      .header('www-authenticate', 'Bearer realm="cattery-admin"')
      .send({ code: codes.ADMIN_UNAUTHORIZED, reason: d.reason, message: d.message })
  })
  app.addHook('onListen', async () => {
    const address = (app.server.address() as { address?: string } | null)?.address
    if (o.token() === undefined && o.open && !isLoopback(address)) {
      o.logger?.warn(
        { event: 'admin-open', address },
        'the admin server answers /status, /metrics and /sessions to anyone who reaches it (admin.open); set admin.token instead',
      )
    }
  })

  app.get('/livez', async () => ({ status: 'ok' }))
  app.get('/readyz', async (_req, reply) => {
    const ok = ready()
    return reply.code(ok ? 200 : 503).send({ ready: ok })
  })
  // ?gc=1 collects garbage first when the process runs with --expose-gc (for memory measurements).
  app.get<{ Querystring: { gc?: string } }>('/status', async (req) => {
    collect(req.query.gc === '1')
    return nodeStatus(statusSource)
  })
  app.register(dashboardRoutes(streams))
  if (o.farm) app.register(farmRoutes(o.farm, o.maxArchiveBytes ?? 64 * 1024 * 1024))
  app.get('/metrics', async (_req, reply) => {
    reply.type(metrics.contentType)
    return metrics.metrics()
  })
  app.get<{ Params: { id: string }; Querystring: { context?: string } }>(
    '/sessions/:id',
    async (req, reply) => {
      // ?context= names the context; it may be left out when the node serves only one.
      const managers = o.cluster.managers()
      const only = managers.length === 1 ? managers[0]?.contextPath : undefined
      const context = req.query.context ?? only
      if (context === undefined)
        return reply.code(400).send({
          code: codes.ADMIN_CONTEXT_REQUIRED,
          message: `this node serves ${managers.length} contexts: name one with ?context= (${managers.map((m) => m.contextPath).join(', ')})`,
        })
      const manager = managers.find((m) => m.contextPath === context)
      if (!manager)
        return reply.code(404).send({ code: codes.ADMIN_NOT_FOUND, message: `no context ${context}` })
      const s = manager.peekSession(req.params.id)
      if (!s)
        return reply.code(404).send({
          code: codes.ADMIN_NOT_FOUND,
          message: `context ${context} holds no session ${req.params.id}`,
        })
      const attributes: Record<string, { size: number; value?: unknown }> = {}
      for (const k of s.keys()) {
        const v = s.get(k)
        attributes[k] = o.showSessionValues
          ? { size: encode(v).length, value: jsonSafe(v) }
          : { size: encode(v).length }
      }
      return {
        id: s.id,
        creationTime: s.creationTime,
        lastAccessedTime: s.lastAccessedTime,
        maxInactiveInterval: s.maxInactiveInterval,
        isNew: s.isNew,
        principal: s.principal ?? null,
        version: s.version,
        writer: s.writer,
        attributes,
      }
    },
  )
  return app
}

function collect(wanted: boolean): void {
  const gc = (globalThis as { gc?: () => void }).gc
  if (wanted && typeof gc === 'function') gc()
}

/** Attribute values as JSON can show them (Map, Set, BigInt, bytes). */
function jsonSafe(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString()
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), jsonSafe(x)]))
  if (v instanceof Set) return [...v].map(jsonSafe)
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64')
  if (Array.isArray(v)) return v.map(jsonSafe)
  if (v && typeof v === 'object' && !(v instanceof Date)) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonSafe(x)]))
  }
  return v
}
