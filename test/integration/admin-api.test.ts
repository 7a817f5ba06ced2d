import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { getJson, type HttpNode, planCluster, started, startHttpNode } from '../helpers/http-nodes.ts'

const TOKEN = 'sesame-open-please'

const adminOf =
  (node: () => HttpNode) =>
  (p: string, token?: string): Promise<Response> =>
    fetch(`http://127.0.0.1:${node().admin}${p}`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    })

/** Starts one node with `more` flags and `env`; stops it after the suite. */
function oneNode(more: string[], env: NodeJS.ProcessEnv = {}): () => HttpNode {
  let node: HttpNode | undefined
  before(async () => {
    const plan = await planCluster(1)
    node = await startHttpNode(plan, 0, more, env)
    await started(node)
  })
  after(() => node?.process.stop('SIGKILL'))
  return () => node as HttpNode
}

describe('admin server with a token', () => {
  const node = oneNode([], { CATTERY_ADMIN_TOKEN: TOKEN })
  const admin = adminOf(node)

  it('answers liveness and readiness without a token', async () => {
    assert.equal((await admin('/livez')).status, 200)
    const ready = await admin('/readyz')
    assert.equal(ready.status, 200)
    assert.deepEqual(await ready.json(), { ready: true })
  })

  it('refuses status, metrics and sessions without the bearer token, with a coded error', async () => {
    for (const p of ['/status', '/metrics', '/sessions/x', '/status?gc=1']) {
      const r = await admin(p)
      assert.equal(r.status, 401, p)
      assert.equal(((await r.json()) as { code: string }).code, 'CATTERY_ERR_ADMIN_UNAUTHORIZED')
    }
    assert.equal((await admin('/status', 'wrong-token-here')).status, 401)
  })

  it('shows a session as Tomcat manager shows it (names and sizes, no values), without touching it, and 404 for unknown ones', async () => {
    const r = await getJson(`http://127.0.0.1:${node().http}/demo/set?k=colour&v=teal`)
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
      'writer',
    ])
    assert.deepEqual(before.attributes, { colour: { size: 5 } })
    assert.equal(before.maxInactiveInterval, 1800)
    const again = (await (await admin(`/sessions/${id}?context=/demo`, TOKEN)).json()) as Record<
      string,
      unknown
    >
    assert.equal(again.lastAccessedTime, before.lastAccessedTime)
    const missing = await admin('/sessions/NOPE.n1?context=/demo', TOKEN)
    assert.equal(missing.status, 404)
    assert.equal(((await missing.json()) as { code: string }).code, 'CATTERY_ERR_ADMIN_NOT_FOUND')
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

  it('finds a session without ?context= when the node serves one context only', async () => {
    const set = await getJson(`http://127.0.0.1:${node().http}/demo/set?k=colour&v=green`)
    const shown = await admin(`/sessions/${set.body.sessionId}`, TOKEN)
    assert.equal(shown.status, 200)
    assert.equal(((await shown.json()) as { id: string }).id, set.body.sessionId)
  })
})

describe('admin server on a non-loopback address without a token', () => {
  // 0.0.0.0 is every address; the test reaches it through 127.0.0.1.
  const node = oneNode(['--admin-host', '0.0.0.0'])
  const admin = adminOf(node)

  it('answers /livez and /readyz', async () => {
    assert.equal((await admin('/livez')).status, 200)
    assert.equal((await admin('/readyz')).status, 200)
  })

  it('answers 401 on /status, /metrics and /sessions, saying how to set a token', async () => {
    for (const p of ['/status', '/metrics', '/sessions/x?context=/demo']) {
      const r = await admin(p)
      assert.equal(r.status, 401, p)
      const body = (await r.json()) as { code: string; reason: string; message: string }
      assert.equal(body.code, 'CATTERY_ERR_ADMIN_UNAUTHORIZED')
      assert.equal(body.reason, 'no-token-configured')
      assert.match(body.message, /--admin-token/)
      assert.match(body.message, /CATTERY_ADMIN_TOKEN_FILE/)
    }
  })
})

describe('admin server with a token file, opted in to session values', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'cattery-admin-'))
  const file = path.join(dir, 'token')
  writeFileSync(file, `  ${TOKEN}\n`)
  const node = oneNode(['--admin-host', '0.0.0.0', '--admin-show-session-values'], {
    CATTERY_ADMIN_TOKEN_FILE: file,
  })
  const admin = adminOf(node)

  it('answers with the trimmed token from the file and refuses without it', async () => {
    assert.equal((await admin('/status')).status, 401)
    assert.equal((await admin('/status', TOKEN)).status, 200)
    assert.equal((await admin('/metrics', TOKEN)).status, 200)
  })

  it('shows attribute values next to their sizes', async () => {
    const r = await getJson(`http://127.0.0.1:${node().http}/demo/set?k=colour&v=teal`)
    const s = (await (await admin(`/sessions/${r.body.sessionId}?context=/demo`, TOKEN)).json()) as {
      attributes: unknown
    }
    assert.deepEqual(s.attributes, { colour: { size: 5, value: 'teal' } })
  })
})

describe('admin server opened explicitly', () => {
  const node = oneNode(['--admin-host', '0.0.0.0', '--admin-open'])
  const admin = adminOf(node)

  it('answers /status without a token and warns about it at start', async () => {
    assert.equal((await admin('/status')).status, 200)
    assert.ok(node().process.lines.some((l) => l.event === 'admin-open' && l.level === 40))
  })
})

describe('admin server on loopback without a token', () => {
  const node = oneNode([])
  const admin = adminOf(node)

  it('answers /status and /sessions to this machine', async () => {
    assert.equal((await admin('/status')).status, 200)
    assert.equal((await admin('/sessions/NOPE.n1?context=/demo')).status, 404)
  })
})
