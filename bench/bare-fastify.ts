/**
 * The ceiling for the session benchmarks: bare fastify routes shaped like /demo/inc and
 * /demo/get?k=count, no sessions (the many-sessions rounds start three of them as a "cluster").
 */
import Fastify from 'fastify'

const app = Fastify()
let count = 0
app.get('/demo/inc', async () => ({ node: 'bare', sessionId: null, count: ++count }))
app.get<{ Querystring: { k?: string } }>('/demo/get', async (req) => ({
  node: 'bare',
  sessionId: null,
  k: req.query.k ?? 'k',
  v: count,
}))
await app.listen({ host: '127.0.0.1', port: Number(process.argv[2]) })
process.stdout.write('{"event":"started"}\n')
