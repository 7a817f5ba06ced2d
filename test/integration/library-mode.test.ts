import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import Fastify, { type FastifyInstance } from 'fastify'
import pino from 'pino'
import { Cluster } from '../../node/cluster/cluster.ts'
import sessionPlugin from '../../node/server/session-plugin.ts'
import type { ClusterManager } from '../../node/session/cluster-manager.ts'
import { DEFAULT_LIMITS } from '../../node/session/limits.ts'
import { startChannels, stopChannels, type TestChannel } from '../helpers/channels.ts'
import { until } from '../helpers/http-nodes.ts'

describe('library mode: the session plugin inside a user fastify app', () => {
  let cs: TestChannel[] = []
  const apps: FastifyInstance[] = []
  const managers: ClusterManager[] = []
  after(async () => {
    await Promise.all(apps.map((a) => a.close()))
    await Promise.all(managers.map((m) => m.stop()))
    await stopChannels(cs)
  })

  it('replicates rich values between two embedded nodes and refuses what cannot be replicated', async () => {
    cs = await startChannels(2)
    for (const [i, { channel }] of cs.entries()) {
      const route = `c${i + 1}`
      const manager = new Cluster(channel, pino({ level: 'silent' })).addContext('/shop', {
        type: 'delta',
        jvmRoute: route,
        sessionTimeout: 1800,
        maxActiveSessions: -1,
        processExpiresFrequency: 6,
        backgroundProcessorDelay: 10,
        policy: {
          ...DEFAULT_LIMITS,
          maxAttributeSize: 1 << 20,
          maxSessionSize: 4 << 20,
          attributeNameFilter: undefined,
          recordAllActions: false,
          trackInPlaceChanges: true,
        },
        sendOptions: 6,
        expireSessionsOnShutdown: false,
        notifyListenersOnReplication: true,
        stateTransferTimeout: 5,
        sendAllSessionsSize: 1000,
      })
      await manager.start()
      managers.push(manager)
      const app = Fastify()
      await app.register(
        async (shop) => {
          await shop.register(sessionPlugin, {
            manager,
            jvmRoute: route,
            cookie: { name: 'JSESSIONID', httpOnly: true, secure: false },
          })
          shop.post('/cart', async (req) => {
            req.session.set('cart', new Map([['book', 2n]]))
            req.session.set('seen', new Set(['/home']))
            req.session.set('since', new Date(0))
            return { id: req.session.id }
          })
          shop.get('/cart', async (req) => ({
            book: String((req.session.get('cart') as Map<string, bigint> | undefined)?.get('book')),
            seen: [...((req.session.get('seen') as Set<string> | undefined) ?? [])],
            since: (req.session.get('since') as Date | undefined)?.toISOString(),
          }))
          shop.post('/bad', async (req) => {
            req.session.set('callback', () => 1)
            return {}
          })
        },
        { prefix: '/shop' },
      )
      apps.push(app)
    }
    const [one, two] = apps as [FastifyInstance, FastifyInstance]
    const events: string[] = []
    managers[0]?.on('sessionCreated', (_s, origin: string) => events.push(`created:${origin}`))
    managers[0]?.on('attributeChanged', (_s, name: string, origin: string) =>
      events.push(`${name}:${origin}`),
    )
    managers[1]?.on('sessionCreated', (_s, origin: string) => events.push(`created:${origin}@2`))
    managers[1]?.on('attributeChanged', (_s, name: string, origin: string) =>
      events.push(`${name}:${origin}@2`),
    )
    const created = await one.inject({ method: 'POST', url: '/shop/cart' })
    const cookie = String(created.headers['set-cookie']).split(';')[0] as string
    const read = await until('the session on the second app', async () => {
      const r = await two.inject({ method: 'GET', url: '/shop/cart', headers: { cookie } })
      return r.json().book === '2' && r.json()
    })
    assert.deepEqual(read, { book: '2', seen: ['/home'], since: '1970-01-01T00:00:00.000Z' })
    // Listeners fire as Tomcat's do: locally, and for replicated changes (notifyListenersOnReplication).
    for (const e of [
      'created:local',
      'cart:local',
      'seen:local',
      'created:replication@2',
      'cart:replication@2',
    ]) {
      assert.ok(events.includes(e), `missing listener event ${e} in ${events.join(', ')}`)
    }
    const bad = await one.inject({ method: 'POST', url: '/shop/bad', headers: { cookie } })
    assert.equal(bad.statusCode, 400)
    assert.equal(bad.json().code, 'CATTERY_ERR_SESSION_VALUE_NOT_REPLICABLE')
    assert.match(bad.json().message, /'callback'.*is a function/)
  })
})
