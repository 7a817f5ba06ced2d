/**
 * One node of the Redis peer (bench/peers.ts): fastify with @fastify/session and connect-redis on a
 * shared Redis, the way Node.js users share sessions today, serving the demo's endpoints with the
 * same JSON. Every request reads its session from Redis and a changed session is written back.
 *   node bench/peers/redis-app.ts <httpPort> <redisPort> <name>
 */
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import { RedisStore } from 'connect-redis'
import Fastify from 'fastify'
import { createClient } from 'redis'

const [port, redisPort, name] = process.argv.slice(2)
const client = createClient({ url: `redis://127.0.0.1:${redisPort}` })
await client.connect()
const app = Fastify()
app.register(fastifyCookie)
app.register(fastifySession, {
  secret: 'a-benchmark-session-secret-of-32-characters',
  cookieName: 'sessionId',
  cookie: { secure: false, httpOnly: true },
  saveUninitialized: false,
  store: new RedisStore({ client, prefix: 'bench:' }) as never,
})

// Cattery's own typing of request.session (node/server/session-plugin.ts) is in scope in this
// repository; @fastify/session's session has the same get/set and a sessionId.
const sid = (req: { session: unknown }) => (req.session as { sessionId: string }).sessionId

app.get('/demo/inc', async (req) => {
  const count = (Number(req.session.get('count')) || 0) + 1
  req.session.set('count', count)
  return { node: name, sessionId: sid(req), count }
})
app.get<{ Querystring: { k?: string } }>('/demo/get', async (req) => {
  const k = req.query.k ?? 'k'
  return { node: name, sessionId: sid(req), k, v: req.session.get(k) ?? null }
})
app.get<{ Querystring: { k?: string; v?: string } }>('/demo/set', async (req) => {
  const k = req.query.k ?? 'k'
  req.session.set(k, req.query.v ?? '')
  return { node: name, sessionId: sid(req), k }
})
await app.listen({ host: '127.0.0.1', port: Number(port) })
process.send?.({ listening: true })
process.on('SIGTERM', async () => {
  await app.close()
  await client.quit()
  process.exit(0)
})
