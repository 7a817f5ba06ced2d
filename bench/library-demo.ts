/**
 * The demo application in library mode (docs/library.md): one fastify instance of the user's, with
 * the session plugin and the demo's routes registered directly under /demo — the shape the node had
 * before contexts became applications. bench/app-context.ts compares it with the same application
 * loaded from the app base.
 *   node bench/library-demo.ts <httpPort> <receiverPort>
 */
import Fastify, { type FastifyPluginAsync } from 'fastify'
import pino from 'pino'
import { type AppOptions, Cluster, createChannel, managerOptions, sessionPlugin } from '../node/index.ts'

// The application as its package exports it (plain JavaScript, no types).
const demoEntry: string = '../examples/apps/demo/index.js'
const demo = ((await import(demoEntry)) as { default: FastifyPluginAsync<AppOptions> }).default

const [httpPort, receiverPort] = process.argv.slice(2).map(Number) as [number, number]
const logger = pino({ level: 'warn' })
const channel = createChannel({
  name: 'lib',
  logger,
  receiver: { host: '127.0.0.1', port: receiverPort },
  membership: {
    type: 'static',
    members: [`127.0.0.1:${receiverPort}`],
    pingInterval: 1000,
    expireTime: 5000,
  },
})
const manager = new Cluster(channel, logger).addContext(
  '/demo',
  managerOptions({ jvmRoute: 'lib', manager: { type: 'standard' } }),
)
await channel.start()
await manager.start()
channel.setReady(true)
const app = Fastify()
await app.register(
  async (ctx) => {
    await ctx.register(sessionPlugin, {
      manager,
      jvmRoute: 'lib',
      cookie: { name: 'JSESSIONID', path: '/demo', httpOnly: true, secure: false },
    })
    await ctx.register(demo, { name: 'demo', path: '/demo', jvmRoute: 'lib', manager })
  },
  { prefix: '/demo' },
)
await app.listen({ host: '127.0.0.1', port: httpPort })
process.stdout.write('{"event":"started"}\n')
