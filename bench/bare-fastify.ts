/** The ceiling for the session benchmark: a bare fastify route shaped like /demo/inc, no sessions. */
import Fastify from 'fastify'

const app = Fastify()
let count = 0
app.get('/demo/inc', async () => ({ node: 'bare', sessionId: null, count: ++count }))
await app.listen({ host: '127.0.0.1', port: Number(process.argv[2]) })
process.stdout.write('{"event":"started"}\n')
