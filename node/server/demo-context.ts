/**
 * The built-in demo application (mounted at /demo): set, get, increment and invalidate session
 * attributes. Every answer names the node that served it, so fail-over can be watched.
 */
import type { FastifyInstance } from 'fastify'

export function demoRoutes(jvmRoute: string) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get<{ Querystring: { k?: string; v?: string } }>('/set', async (req) => {
      const k = req.query.k ?? 'k'
      const v = req.query.v ?? ''
      req.session.set(k, v)
      return { node: jvmRoute, sessionId: req.session.id, k, v }
    })
    app.get<{ Querystring: { k?: string } }>('/get', async (req) => {
      const k = req.query.k ?? 'k'
      const v = req.session.get(k)
      return { node: jvmRoute, sessionId: req.session.id, k, v: v ?? null }
    })
    app.get('/inc', async (req) => {
      const count = (Number(req.session.get('count')) || 0) + 1
      req.session.set('count', count)
      return { node: jvmRoute, sessionId: req.session.id, count }
    })
    app.get<{ Querystring: { k?: string } }>('/remove', async (req) => {
      const k = req.query.k ?? 'k'
      const removed = req.session.delete(k)
      return { node: jvmRoute, sessionId: req.session.id, k, removed }
    })
    app.get('/regenerate', async (req) => {
      const before = req.session.id
      const sessionId = await req.session.regenerate()
      return { node: jvmRoute, sessionId, previousId: before }
    })
    app.get<{ Querystring: { s?: string } }>('/timeout', async (req) => {
      const seconds = Number(req.query.s ?? 1800)
      req.session.maxInactiveInterval = Number.isFinite(seconds) ? Math.trunc(seconds) : 1800
      return {
        node: jvmRoute,
        sessionId: req.session.id,
        maxInactiveInterval: req.session.maxInactiveInterval,
      }
    })
    app.get('/whoami', async (req) => ({
      node: jvmRoute,
      sessionId: req.session.exists ? req.session.id : null,
      originalSessionId: req.originalSessionId ?? null,
      isNew: req.session.exists ? req.session.isNew : null,
      keys: req.session.keys(),
    }))
    app.get('/invalidate', async (req) => {
      const sessionId = req.session.exists ? req.session.id : null
      await req.session.invalidate()
      return { node: jvmRoute, sessionId, invalidated: sessionId !== null }
    })
  }
}
