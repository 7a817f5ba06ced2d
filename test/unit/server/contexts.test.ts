import assert from 'node:assert/strict'
import http from 'node:http'
import { after, before, describe, it } from 'node:test'
import type { FastifyInstance } from 'fastify'
import pino from 'pino'
import { Cluster } from '../../../node/cluster/cluster.ts'
import { type AppOptions, type ContextSpec, Contexts } from '../../../node/server/contexts.ts'
import { lonelyChannel, managerSettings } from '../../helpers/managers.ts'

const app =
  (label: string) =>
  async (f: FastifyInstance, o: AppOptions): Promise<void> => {
    f.get('/', async () => ({ label, path: o.path }))
    f.get('/who', async () => ({ label, name: o.name }))
    f.get('/inc', async (req) => {
      const count = (Number(req.session.get('count')) || 0) + 1
      req.session.set('count', count)
      return { label, count }
    })
    f.get('/slow', async () => {
      await new Promise((r) => setTimeout(r, 300))
      return { label, slow: true }
    })
  }

const spec = (name: string, path: string, plugin = app(name)): ContextSpec => ({
  name,
  path,
  settings: managerSettings({ jvmRoute: 'n1' }),
  cookie: { name: 'JSESSIONID', path, httpOnly: true, secure: false },
  plugin,
})

describe('the host contexts', () => {
  const cluster = new Cluster(lonelyChannel(), pino({ level: 'silent' }))
  const contexts = new Contexts({
    cluster,
    logger: pino({ level: 'silent' }),
    jvmRoute: 'n1',
    replicationFilter: '.*\\.css',
    jvmRouteBinder: true,
    valves: new Map(),
    drainTimeoutMs: 5000,
  })
  const server = http.createServer(contexts.handle)
  let base = ''
  const get = async (p: string, cookie?: string) => {
    const r = await fetch(`${base}${p}`, { headers: cookie ? { cookie } : {} })
    return {
      status: r.status,
      body: (await r.json()) as Record<string, unknown>,
      setCookie: r.headers.get('set-cookie'),
    }
  }
  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  })
  after(async () => {
    await contexts.close()
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
    await cluster.stop()
  })

  it('sends a request to the context with the longest path that holds it', async () => {
    await contexts.deploy(spec('ROOT', '/'))
    await contexts.deploy(spec('shop', '/shop'))
    await contexts.deploy(spec('shop#v2', '/shop/v2'))
    assert.equal((await get('/shop/v2/who')).body.label, 'shop#v2')
    assert.equal((await get('/shop/who')).body.label, 'shop')
    assert.equal((await get('/shopping')).status, 404) // ROOT has no such route: its own 404
    assert.equal((await get('/who')).body.label, 'ROOT')
    assert.deepEqual(
      contexts.list().map((c) => c.path),
      ['/', '/shop', '/shop/v2'],
    )
  })

  it('refuses a second application at a taken path, naming both', async () => {
    const e = await contexts.deploy(spec('store', '/shop')).catch((err: Error & { code: string }) => err)
    assert.ok(e instanceof Error)
    assert.equal((e as Error & { code: string }).code, 'CATTERY_ERR_APP_PATH_CLASH')
    assert.match(e.message, /application store: the path \/shop is already served by application shop/)
    assert.equal((await get('/shop/who')).body.label, 'shop')
  })

  it('refuses an application that throws while registering, and the others still serve', async () => {
    const e = await contexts
      .deploy(
        spec('broken', '/broken', async () => {
          throw new Error('no database')
        }),
      )
      .catch((err: Error & { code: string }) => err)
    assert.equal((e as Error & { code: string }).code, 'CATTERY_ERR_APP_REGISTER_FAILED')
    assert.match((e as Error).message, /application broken: registering its plugin failed: no database/)
    assert.ok(!cluster.managers().some((m) => m.contextPath === '/broken'), 'its manager is gone')
    assert.equal((await get('/shop/who')).body.label, 'shop')
  })

  it('redeploys with the sessions kept, letting requests in flight finish on the old version', async () => {
    const first = await get('/shop/inc')
    const cookie = String(first.setCookie).split(';')[0] as string
    const slow = get('/shop/slow')
    await new Promise((r) => setTimeout(r, 50))
    await contexts.deploy(spec('shop', '/shop', app('shop-2')))
    assert.deepEqual((await slow).body, { label: 'shop', slow: true })
    const again = await get('/shop/inc', cookie)
    assert.deepEqual(again.body, { label: 'shop-2', count: 2 })
  })

  it('undeploys after the requests in flight finish; then its path is no longer served', async () => {
    const slow = get('/shop/v2/slow')
    await new Promise((r) => setTimeout(r, 50))
    await contexts.undeploy('shop#v2')
    assert.deepEqual((await slow).body, { label: 'shop#v2', slow: true })
    assert.equal((await get('/shop/v2/who')).status, 404) // /shop serves it now, and has no such route
    assert.ok(!cluster.managers().some((m) => m.contextPath === '/shop/v2'))
    const e = await contexts.undeploy('shop#v2').catch((err: Error & { code: string }) => err)
    assert.equal((e as Error & { code: string }).code, 'CATTERY_ERR_APP_NOT_DEPLOYED')
  })

  it('answers 404 with a code where no context serves the path', async () => {
    await contexts.undeploy('ROOT')
    const r = await get('/nothing')
    assert.equal(r.status, 404)
    assert.deepEqual(r.body, { code: 'CATTERY_ERR_NO_CONTEXT', message: 'no application serves /nothing' })
  })
})
