import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  cookieOf,
  formed,
  getJson,
  type HttpNode,
  planCluster,
  started,
  startHttpNode,
  status,
  until,
} from '../helpers/http-nodes.ts'

const url = (n: HttpNode, path: string) => `http://127.0.0.1:${n.http}/demo${path}`
/** The session on node `n` (admin API), with its attributes' values (the nodes show them: SHOW_VALUES). */
const peek = async (n: HttpNode, id: string) => {
  const body = (await getJson(`http://127.0.0.1:${n.admin}/sessions/${encodeURIComponent(id)}?context=/demo`))
    .body
  if (body?.attributes)
    body.attributes = Object.fromEntries(
      Object.entries(body.attributes as Record<string, { value: unknown }>).map(([k, a]) => [k, a.value]),
    )
  return body
}
const SHOW_VALUES = '--admin-show-session-values'

describe('replicated sessions on 3 node processes (DeltaManager, asynchronous)', () => {
  let nodes: HttpNode[] = []
  before(async () => {
    const config = path.join(os.tmpdir(), `cattery-sessions-${process.pid}.yaml`)
    writeFileSync(config, 'session:\n  maxAttributeSize: 1024\n')
    const plan = await planCluster(3, ['--config', config, SHOW_VALUES])
    nodes = await Promise.all([0, 1, 2].map((i) => startHttpNode(plan, i)))
    await Promise.all(nodes.map((n) => started(n)))
    await formed(nodes)
  })
  after(() => Promise.all(nodes.map((n) => n.process.stop('SIGKILL'))))

  it('a session created on one node is read on the other two, under its route while its node lives', async () => {
    const [a, b, c] = nodes as [HttpNode, HttpNode, HttpNode]
    const created = await getJson(url(a, '/set?k=colour&v=teal'))
    assert.equal(created.body.node, 'n1')
    const cookie = cookieOf(created.setCookie)
    assert.match(cookie, /\.n1$/)
    for (const n of [b, c]) {
      const got = await until(`the session on ${n.name}`, async () => {
        const r = await getJson(url(n, '/get?k=colour'), cookie)
        return r.body.v === 'teal' && r
      })
      assert.equal(got.body.node, n.name)
      // n1 is alive: the JvmRouteBinder leaves its route (a balancer that does not stick sent it here).
      assert.equal(got.body.sessionId, created.body.sessionId)
      assert.ok(!got.setCookie?.includes('JSESSIONID='), 'no new session cookie')
    }
  })

  it('replicates remove, regenerate and invalidate', async () => {
    const [a, b, c] = nodes as [HttpNode, HttpNode, HttpNode]
    const s = await getJson(url(a, '/set?k=x&v=1'))
    let cookie = cookieOf(s.setCookie)
    await getJson(url(a, '/set?k=y&v=2'), cookie)
    await getJson(url(a, '/remove?k=x'), cookie)
    const id = s.body.sessionId as string
    await until('remove on n2', async () => {
      const p = await peek(b, id)
      return p.attributes && p.attributes.y === '2' && !('x' in p.attributes)
    })
    const regen = await getJson(url(a, '/regenerate'), cookie)
    cookie = cookieOf(regen.setCookie)
    assert.notEqual(regen.body.sessionId, id)
    await until(
      'the new id on n3',
      async () => (await peek(c, regen.body.sessionId)).id === regen.body.sessionId,
    )
    assert.equal((await peek(c, id)).id, undefined, 'the old id must be gone')
    await getJson(url(a, '/invalidate'), cookie)
    for (const n of [b, c])
      await until(
        `invalidation on ${n.name}`,
        async () => (await peek(n, regen.body.sessionId)).id === undefined,
      )
  })

  it('an invalidation clears the session cookies, so the next request on another member starts a new session', async () => {
    const [a, b] = nodes as [HttpNode, HttpNode]
    const cookie = cookieOf((await getJson(url(a, '/set?k=user&v=alice'))).setCookie)
    const out = await getJson(url(a, '/invalidate'), cookie)
    assert.equal(out.body.invalidated, true)
    const cleared = out.setCookie ?? ''
    assert.match(cleared, /JSESSIONID=;.*Expires=Thu, 01 Jan 1970/)
    assert.match(cleared, /JSESSIONID_V=;.*Expires=Thu, 01 Jan 1970/)
    // A browser now sends no session cookie: the next member serves a new, empty session.
    const next = await getJson(url(b, '/whoami'))
    assert.equal(next.body.sessionId, null)
    const fresh = await getJson(url(b, '/get?k=user'))
    assert.equal(fresh.body.v, null)
  })

  it('a storm of creates and increments loses nothing', async () => {
    const [a, b] = nodes as [HttpNode, HttpNode]
    const sessions = 200
    const incs = 10
    const cookies = await Promise.all(
      Array.from({ length: sessions }, async () => cookieOf((await getJson(url(a, '/inc'))).setCookie)),
    )
    await Promise.all(
      cookies.map(async (c) => {
        for (let i = 1; i < incs; i++) await getJson(url(a, '/inc'), c)
      }),
    )
    const ids = cookies.map((c) => c.slice('JSESSIONID='.length))
    await until(
      'every count on n2',
      async () => {
        const counts = await Promise.all(ids.map(async (id) => (await peek(b, id)).attributes?.count))
        return counts.every((c) => c === incs)
      },
      20_000,
    )
  })

  it('many requests writing one session at once: the other nodes end in its last state, its changes merged on the way', async () => {
    const [a, b, c] = nodes as [HttpNode, HttpNode, HttpNode]
    const first = await getJson(url(a, '/inc'))
    const cookie = cookieOf(first.setCookie)
    const id = String(first.body.sessionId)
    await until('the session on n2', async () => (await peek(b, id))?.attributes?.count === 1)
    /** Deltas node `n` received so far (its /metrics). */
    const deltasReceived = async (n: HttpNode) => {
      const text = await (await fetch(`http://127.0.0.1:${n.admin}/metrics`)).text()
      const line =
        /cattery_session_messages_total\{context="\/demo",type="delta",direction="received"\} (\d+)/.exec(
          text,
        )
      return Number(line?.[1] ?? 0)
    }
    const before = await deltasReceived(b)
    const writes = 60
    const answers = await Promise.all(Array.from({ length: writes }, () => getJson(url(a, '/inc'), cookie)))
    assert.ok(
      answers.every((r) => r.status === 200),
      'every write acknowledged',
    )
    for (const n of [b, c])
      await until(
        `the last count on ${n.name}`,
        async () => (await peek(n, id))?.attributes?.count === writes + 1,
        10_000,
      )
    const received = (await deltasReceived(b)) - before
    assert.ok(received < writes, `n2 received ${received} changes for ${writes} writes: they were merged`)
  })

  it('gives a clear error for a malformed cookie or an oversized attribute, and goes on serving', async () => {
    const [a] = nodes as [HttpNode]
    const bad = await getJson(url(a, '/get?k=x'), 'JSESSIONID=../../etc/passwd')
    assert.equal(bad.status, 200)
    assert.equal(bad.body.v, null)
    const big = await getJson(url(a, `/set?k=big&v=${'x'.repeat(2000)}`))
    assert.equal(big.status, 413)
    assert.equal(big.body.code, 'CATTERY_ERR_SESSION_ATTRIBUTE_TOO_LARGE')
    assert.match(big.body.message, /limit is 1024/)
    assert.equal((await getJson(url(a, '/inc'))).status, 200)
  })
})

describe('fail-over', () => {
  let nodes: HttpNode[] = []
  after(() => Promise.all(nodes.map((n) => n.process.stop('SIGKILL'))))

  it('after SIGKILL of the node that served it, the session is served by another node under its route', async () => {
    const plan = await planCluster(3, [SHOW_VALUES])
    nodes = await Promise.all([0, 1, 2].map((i) => startHttpNode(plan, i)))
    await Promise.all(nodes.map((n) => started(n)))
    await formed(nodes)
    const [a, b] = nodes as [HttpNode, HttpNode]
    const first = await getJson(url(a, '/inc'))
    const cookie = cookieOf(first.setCookie)
    await getJson(url(a, '/inc'), cookie)
    await until('the count on n2', async () => (await peek(b, first.body.sessionId)).attributes?.count === 2)
    await a.process.stop('SIGKILL')
    // The JvmRouteBinder rewrites a route once its member has left the view.
    await until('n2 and n3 dropped n1', async () => {
      const views = await Promise.all(nodes.slice(1).map((n) => status(n)))
      return views.every((v) => !v.members.some((m: { name: string }) => m.name === 'n1'))
    })
    const after = await getJson(url(b, '/inc'), cookie)
    assert.equal(after.body.node, 'n2')
    assert.equal(after.body.count, 3)
    assert.match(cookieOf(after.setCookie), /\.n2$/)
    const who = await getJson(url(b, '/whoami'), cookieOf(after.setCookie))
    assert.equal(who.body.sessionId, after.body.sessionId)
    const rebound = await getJson(url(nodes[2] as HttpNode, '/whoami'), cookie)
    assert.equal(rebound.body.originalSessionId, cookie.slice('JSESSIONID='.length))
  })

  it('a route naming a live member is left alone: no new id, no new cookie, on a node the balancer chose', async () => {
    const [, b, c] = nodes as [HttpNode, HttpNode, HttpNode]
    const first = await getJson(url(b, '/inc'))
    const cookie = cookieOf(first.setCookie)
    assert.match(cookie, /\.n2$/)
    await until(
      'the session on n3',
      async () => (await peek(c, first.body.sessionId)).attributes?.count === 1,
    )
    const elsewhere = await getJson(url(c, '/inc'), cookie)
    assert.equal(elsewhere.body.node, 'n3')
    assert.equal(elsewhere.body.count, 2)
    assert.equal(elsewhere.body.sessionId, first.body.sessionId, 'the same id, route n2 kept')
    assert.ok(!elsewhere.setCookie?.includes('JSESSIONID='), 'no new session cookie')
  })
})

describe('synchronous replication (--send-options 6)', () => {
  let nodes: HttpNode[] = []
  after(() => Promise.all(nodes.map((n) => n.process.stop('SIGKILL'))))

  it('a change is readable on every other node as soon as the writing request returns', async () => {
    const plan = await planCluster(3, ['--send-options', '6', SHOW_VALUES])
    nodes = await Promise.all([0, 1, 2].map((i) => startHttpNode(plan, i)))
    await Promise.all(nodes.map((n) => started(n)))
    await formed(nodes)
    const [a, b, c] = nodes as [HttpNode, HttpNode, HttpNode]
    let cookie: string | undefined
    for (let i = 1; i <= 30; i++) {
      const r = await getJson(url(a, '/inc'), cookie)
      cookie ??= cookieOf(r.setCookie)
      for (const n of [b, c]) assert.equal((await peek(n, r.body.sessionId)).attributes?.count, i)
    }
  })
})
