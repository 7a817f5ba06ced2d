import assert from 'node:assert/strict'
import http from 'node:http'
import { after, before, describe, it } from 'node:test'
import type { FastifyInstance } from 'fastify'
import pino from 'pino'
import { Cluster } from '../../../node/cluster/cluster.ts'
import { type ContextSpec, Contexts } from '../../../node/server/contexts.ts'
import { describeChanges, managerChanges } from '../../../node/server/manager-changes.ts'
import type { ManagerSettings } from '../../../node/session/managers.ts'
import { lonelyChannel, managerSettings } from '../../helpers/managers.ts'

describe('what a redeploy would change of a running manager', () => {
  const base = managerSettings()
  const table: Array<[string, ManagerSettings, string]> = [
    ['nothing when the settings are equal (a fresh copy)', managerSettings(), ''],
    ['the manager kind', managerSettings({ type: 'backup' }), 'type: delta → backup'],
    ['a limit', managerSettings({ maxActiveSessions: 2 }), 'maxActiveSessions: -1 → 2'],
    ['a timeout', managerSettings({ sessionTimeout: 60 }), 'sessionTimeout: 1800 → 60'],
    ['the send options', managerSettings({ sendOptions: 6 }), 'sendOptions: 8 → 6'],
    [
      'a limit of the session policy, by its dotted key',
      managerSettings({ policy: { maxAttributeSize: 10 } }),
      'policy.maxAttributeSize: 1024 → 10',
    ],
    [
      'an attribute filter set where there was none',
      managerSettings({ policy: { attributeNameFilter: /^cart/ } }),
      'policy.attributeNameFilter: unset → /^cart/',
    ],
    ['a setting only the new version names', managerSettings({ backups: 2 }), 'backups: unset → 2'],
    [
      'several, in key order',
      managerSettings({ type: 'backup', maxActiveSessions: 5 }),
      'maxActiveSessions: -1 → 5, type: delta → backup',
    ],
  ]
  for (const [name, next, want] of table)
    it(name, () => {
      assert.equal(describeChanges(managerChanges(base, next)), want)
    })

  it('the same filter written again is no change', () => {
    const a = managerSettings({ policy: { attributeNameFilter: /^cart/ } })
    const b = managerSettings({ policy: { attributeNameFilter: /^cart/ } })
    assert.deepEqual(managerChanges(a, b), [])
  })

  it('names the first eight changes, then how many more', () => {
    const next = managerSettings({
      policy: {
        maxAttributeSize: 1,
        maxSessionSize: 2,
        maxAttributes: 3,
        maxValueDepth: 4,
        maxInactiveInterval: 5,
        recordAllActions: true,
        trackInPlaceChanges: true,
      },
      maxActiveSessions: 6,
      sessionTimeout: 7,
      sendOptions: 9,
    })
    assert.match(describeChanges(managerChanges(base, next)), / and 2 more$/)
  })
})

describe('a redeploy on a running context', () => {
  const cluster = new Cluster(lonelyChannel(), pino({ level: 'silent' }))
  const contexts = new Contexts({
    cluster,
    // The contexts log their requests' errors at warn (a refused session here): into nothing.
    logger: pino({ level: 'silent' }, { write: () => {} }),
    jvmRoute: 'n1',
    replicationFilter: '',
    jvmRouteBinder: true,
    valves: new Map(),
    drainTimeoutMs: 1000,
  })
  const server = http.createServer(contexts.handle)
  let url = ''
  const inc = async (cookie?: string) => {
    const r = await fetch(`${url}/shop/inc`, { headers: cookie ? { cookie } : {} })
    return {
      status: r.status,
      body: (await r.json()) as Record<string, unknown>,
      cookie: r.headers.get('set-cookie'),
    }
  }
  const spec = (label: string, settings: ManagerSettings, cookieName = 'JSESSIONID'): ContextSpec => ({
    name: 'shop',
    path: '/shop',
    settings,
    cookie: { name: cookieName, path: '/shop', httpOnly: true, secure: false },
    plugin: async (f: FastifyInstance) => {
      f.get('/inc', async (req) => {
        const count = (Number(req.session.get('count')) || 0) + 1
        req.session.set('count', count)
        return { label, count }
      })
    },
  })
  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
    contexts.markStarted()
  })
  after(async () => {
    await contexts.close()
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
    await cluster.stop()
  })

  it('is refused with a coded error naming each change when the manager settings differ; the running version serves on, its sessions kept', async () => {
    await contexts.deploy(spec('v1', managerSettings({ maxActiveSessions: 2 })))
    const manager = cluster.managers()[0]
    const first = await inc()
    const cookie = String(first.cookie).split(';')[0] as string
    for (const [next, change] of [
      [managerSettings({ maxActiveSessions: 3 }), 'maxActiveSessions: 2 → 3'],
      [managerSettings({ maxActiveSessions: 2, type: 'backup' }), 'type: delta → backup'],
    ] as const) {
      const e = await contexts.deploy(spec('v2', next)).then(
        () => assert.fail('expected a refusal'),
        (err: Error & { code: string }) => err,
      )
      assert.equal(e.code, 'CATTERY_ERR_APP_SETTINGS_CHANGED')
      assert.ok(e.message.startsWith('application shop: '), e.message)
      assert.ok(e.message.includes(change), e.message)
    }
    assert.equal(cluster.managers()[0], manager, 'the same manager')
    assert.deepEqual((await inc(cookie)).body, { label: 'v1', count: 2 })
    // The running limit (2 sessions) still holds.
    assert.equal((await inc()).status, 200)
    assert.equal((await inc()).status, 503)
  })

  it('keeps the manager and its sessions when only the code and the cookie change', async () => {
    const manager = cluster.managers()[0]
    const active = manager?.sessionCount()
    await contexts.deploy(spec('v3', managerSettings({ maxActiveSessions: 2 }), 'SHOPID'))
    assert.equal(cluster.managers()[0], manager)
    assert.equal(manager?.sessionCount(), active)
    const r = await inc()
    assert.equal(r.status, 503, 'the manager still holds its two sessions')
    assert.equal(r.body.code, 'CATTERY_ERR_TOO_MANY_SESSIONS')
  })
})
