/**
 * The demo application (a context at /demo when the app base holds it): set, get, increment and
 * invalidate session attributes. Every answer names the node that served it, so fail-over can be
 * watched. An application is a fastify plugin; Cattery registers it under the context's path with
 * `request.session` already there, and passes { name, path, jvmRoute, manager } as its options.
 *
 * @param {import('fastify').FastifyInstance} app
 * @param {{ jvmRoute: string }} options
 */
export default async function demo(app, options) {
  const node = options.jvmRoute
  app.get('/set', async (req) => {
    const k = req.query.k ?? 'k'
    const v = req.query.v ?? ''
    req.session.set(k, v)
    return { node, sessionId: req.session.id, k, v }
  })
  app.get('/get', async (req) => {
    const k = req.query.k ?? 'k'
    const v = req.session.get(k)
    return { node, sessionId: req.session.id, k, v: v ?? null }
  })
  app.get('/inc', async (req) => {
    const count = (Number(req.session.get('count')) || 0) + 1
    req.session.set('count', count)
    return { node, sessionId: req.session.id, count }
  })
  app.get('/remove', async (req) => {
    const k = req.query.k ?? 'k'
    const removed = req.session.delete(k)
    return { node, sessionId: req.session.id, k, removed }
  })
  app.get('/regenerate', async (req) => {
    const before = req.session.id
    const sessionId = await req.session.regenerate()
    return { node, sessionId, previousId: before }
  })
  app.get('/timeout', async (req) => {
    const seconds = Number(req.query.s ?? 1800)
    req.session.maxInactiveInterval = Number.isFinite(seconds) ? Math.trunc(seconds) : 1800
    return { node, sessionId: req.session.id, maxInactiveInterval: req.session.maxInactiveInterval }
  })
  app.get('/whoami', async (req) => ({
    node,
    sessionId: req.session.exists ? req.session.id : null,
    originalSessionId: req.originalSessionId ?? null,
    isNew: req.session.exists ? req.session.isNew : null,
    keys: req.session.keys(),
  }))
  app.get('/invalidate', async (req) => {
    const sessionId = req.session.exists ? req.session.id : null
    await req.session.invalidate()
    return { node, sessionId, invalidated: sessionId !== null }
  })
}
