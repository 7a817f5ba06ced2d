import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { getJson, type HttpNode, planCluster, started, startHttpNode } from '../helpers/http-nodes.ts'

const TOKEN = 'sesame-open-please'

describe('admin server', () => {
  let node: HttpNode
  before(async () => {
    const plan = await planCluster(1)
    node = await startHttpNode(plan, 0, [], { CATTERY_ADMIN_TOKEN: TOKEN })
    await started(node)
  })
  after(() => node.process.stop('SIGKILL'))
  const admin = (p: string, token?: string) =>
    fetch(`http://127.0.0.1:${node.admin}${p}`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    })

  it('answers liveness and readiness without a token', async () => {
    assert.equal((await admin('/livez')).status, 200)
    const ready = await admin('/readyz')
    assert.equal(ready.status, 200)
    assert.deepEqual(await ready.json(), { ready: true })
  })

  it('refuses status, metrics and sessions without the bearer token', async () => {
    for (const p of ['/status', '/metrics', '/sessions/x']) assert.equal((await admin(p)).status, 401)
    assert.equal((await admin('/status', 'wrong-token-here')).status, 401)
  })

  it('shows a session as Tomcat manager shows it, without touching it, and 404 for unknown ones', async () => {
    const r = await getJson(`http://127.0.0.1:${node.http}/demo/set?k=colour&v=teal`)
    const id = r.body.sessionId as string
    const before = (await (await admin(`/sessions/${id}?context=/demo`, TOKEN)).json()) as Record<
      string,
      unknown
    >
    assert.deepEqual(Object.keys(before).sort(), [
      'attributes',
      'creationTime',
      'id',
      'isNew',
      'lastAccessedTime',
      'maxInactiveInterval',
      'principal',
      'version',
    ])
    assert.deepEqual(before.attributes, { colour: 'teal' })
    assert.equal(before.maxInactiveInterval, 1800)
    const again = (await (await admin(`/sessions/${id}?context=/demo`, TOKEN)).json()) as Record<
      string,
      unknown
    >
    assert.equal(again.lastAccessedTime, before.lastAccessedTime)
    assert.equal((await admin('/sessions/NOPE.n1?context=/demo', TOKEN)).status, 404)
  })

  it('reports status and Prometheus metrics', async () => {
    // biome-ignore lint/suspicious/noExplicitAny: the status document
    const status = (await (await admin('/status', TOKEN)).json()) as any
    assert.equal(status.name, 'n1')
    assert.equal(status.ready, true)
    assert.deepEqual(status.members, [])
    assert.equal(status.contexts[0].path, '/demo')
    assert.equal(status.contexts[0].manager, 'delta')
    const metrics = await (await admin('/metrics', TOKEN)).text()
    assert.match(metrics, /cattery_sessions_active\{context="\/demo"\} 1/)
    assert.match(
      metrics,
      /cattery_session_messages_total\{context="\/demo",type="created",direction="sent"\} 0/,
    )
    assert.match(metrics, /cattery_members 0/)
  })
})
