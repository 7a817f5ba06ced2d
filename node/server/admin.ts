/**
 * The admin server, on its own port: liveness, readiness (200 only once membership runs and every
 * context holds the cluster's sessions), status, Prometheus metrics, and sessions as Tomcat's
 * manager application shows them (read without touching them). Optional bearer token.
 */
import { timingSafeEqual } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Cluster } from '../cluster/cluster.ts'
import { createMetrics } from './metrics.ts'
import type { ValveStats } from './session-plugin.ts'

export interface AdminOptions {
  name: string
  cluster: Cluster
  valves: Map<string, ValveStats>
  token: string | undefined
  /** False while the node is starting or stopping. */
  serving: () => boolean
}

export function createAdmin(o: AdminOptions): FastifyInstance {
  const app = Fastify({ logger: false })
  const metrics = createMetrics(o.cluster, o.valves)
  const { channel } = o.cluster

  if (o.token) {
    const want = Buffer.from(`Bearer ${o.token}`)
    app.addHook('onRequest', async (req, reply) => {
      if (req.url === '/livez' || req.url === '/readyz') return
      const got = Buffer.from(req.headers.authorization ?? '')
      if (got.length !== want.length || !timingSafeEqual(got, want)) {
        return reply.code(401).send({ error: 'a bearer token is required (admin.token)' })
      }
    })
  }

  const ready = () => channel.started && o.serving() && o.cluster.ready

  app.get('/livez', async () => ({ status: 'ok' }))
  app.get('/readyz', async (_req, reply) => {
    const ok = ready()
    return reply.code(ok ? 200 : 503).send({ ready: ok })
  })
  // ?gc=1 collects garbage first when the process runs with --expose-gc (for memory measurements).
  app.get<{ Querystring: { gc?: string } }>('/status', async (req) => ({
    ...collect(req.query.gc === '1'),
    name: o.name,
    ready: ready(),
    members: channel.members().map((m) => ({ name: m.name, host: m.host, port: m.port, ready: m.ready })),
    contexts: o.cluster.managers().map((m) => ({
      path: m.contextPath,
      manager: m.kind,
      sessions: m.sessionCount(),
      ready: m.ready,
      stats: m.stats(),
      valve: o.valves.get(m.contextPath),
    })),
    channel: channel.stats(),
    memory: process.memoryUsage(),
  }))
  app.get('/metrics', async (_req, reply) => {
    reply.type(metrics.contentType)
    return metrics.metrics()
  })
  app.get<{ Params: { id: string }; Querystring: { context?: string } }>(
    '/sessions/:id',
    async (req, reply) => {
      const context = req.query.context ?? '/demo'
      const manager = o.cluster.managers().find((m) => m.contextPath === context)
      if (!manager) return reply.code(404).send({ error: `no context ${context}` })
      const s = manager.peekSession(req.params.id)
      if (!s) return reply.code(404).send({ error: `context ${context} holds no session ${req.params.id}` })
      return {
        id: s.id,
        creationTime: s.creationTime,
        lastAccessedTime: s.lastAccessedTime,
        maxInactiveInterval: s.maxInactiveInterval,
        isNew: s.isNew,
        principal: s.principal ?? null,
        version: s.version,
        attributes: Object.fromEntries(s.keys().map((k) => [k, jsonSafe(s.get(k))])),
      }
    },
  )
  return app
}

function collect(wanted: boolean): Record<string, never> {
  const gc = (globalThis as { gc?: () => void }).gc
  if (wanted && typeof gc === 'function') gc()
  return {}
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
