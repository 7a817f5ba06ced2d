import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type HttpNode, planCluster, started, startHttpNode, until } from '../helpers/http-nodes.ts'

const TOKEN = 'sesame-open-please'
const bearer = { authorization: `Bearer ${TOKEN}` }

interface Stream {
  status: number
  /** Resolves with the next snapshot the stream sends. */
  next(): Promise<Record<string, unknown>>
  close(): void
  body: unknown
}

/** Opens /dashboard/events as the page does (fetch, bearer token) and parses its events. */
async function openStream(node: HttpNode, headers: Record<string, string> = bearer): Promise<Stream> {
  const aborter = new AbortController()
  const res = await fetch(`http://127.0.0.1:${node.admin}/dashboard/events`, {
    headers,
    signal: aborter.signal,
  })
  if (!res.ok || !res.body) {
    const body = await res.json()
    return { status: res.status, body, next: () => Promise.reject(new Error('no stream')), close: () => {} }
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  return {
    status: res.status,
    body: undefined,
    async next() {
      for (;;) {
        const end = buffer.indexOf('\n\n')
        if (end >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const data = /^data: (.*)$/m.exec(block)?.[1]
          if (block.startsWith('event: snapshot') && data) return JSON.parse(data)
          continue
        }
        const { value, done } = await reader.read()
        if (done) throw new Error('the stream ended')
        buffer += value
      }
    },
    close: () => aborter.abort(),
  }
}

describe('dashboard over HTTP (two nodes with a token)', () => {
  const nodes: HttpNode[] = []
  before(async () => {
    const plan = await planCluster(2)
    for (const i of [0, 1]) nodes.push(await startHttpNode(plan, i, [], { CATTERY_ADMIN_TOKEN: TOKEN }))
    await Promise.all(nodes.map((n) => started(n)))
    await until('the two nodes to see each other', async () => {
      const seen = await Promise.all(
        nodes.map(async (n) => {
          const r = await fetch(`http://127.0.0.1:${n.admin}/status`, { headers: bearer })
          return ((await r.json()) as { members: unknown[] }).members.length
        }),
      )
      return seen.every((n) => n === 1)
    })
  })
  after(() => Promise.all(nodes.map((n) => n.process.stop('SIGKILL'))))
  const admin = (p: string, headers: Record<string, string> = {}) =>
    fetch(`http://127.0.0.1:${nodes[0]?.admin}${p}`, { headers, redirect: 'manual' })

  it("serves the page's files without the token, with no data of the node in them and a strict CSP", async () => {
    assert.equal((await admin('/dashboard')).status, 308)
    for (const p of [
      '/dashboard/',
      '/dashboard/dashboard.js',
      '/dashboard/dashboard.css',
      '/dashboard/uplot.js',
    ]) {
      const r = await admin(p)
      assert.equal(r.status, 200, p)
      assert.match(r.headers.get('content-security-policy') ?? '', /script-src 'self'/)
      const text = await r.text()
      assert.doesNotMatch(text, /127\.0\.0\.1/, p)
    }
    assert.match(await (await admin('/dashboard/')).text(), /<script src="uplot.js"/)
  })

  it('refuses the event stream without the token (401, coded)', async () => {
    const s = await openStream(nodes[0] as HttpNode, {})
    assert.equal(s.status, 401)
    assert.equal((s.body as { code: string }).code, 'CATTERY_ERR_ADMIN_UNAUTHORIZED')
    assert.equal(
      (await openStream(nodes[0] as HttpNode, { authorization: 'Bearer wrong-token' })).status,
      401,
    )
  })

  it('streams a snapshot every second: members with how they were last heard from, contexts, traffic, memory', async () => {
    const s = await openStream(nodes[0] as HttpNode)
    try {
      assert.equal(s.status, 200)
      const first = await s.next()
      const second = await s.next()
      const gap = (second.at as number) - (first.at as number)
      assert.ok(gap >= 700 && gap <= 3000, `snapshots ${gap} ms apart`)
      // biome-ignore lint/suspicious/noExplicitAny: the snapshot document
      const snap = second as any
      assert.deepEqual(snap.node, { name: 'n1', ready: true })
      assert.deepEqual(
        snap.members.map((m: { name: string; local: boolean; ready: boolean }) => [m.name, m.local, m.ready]),
        [
          ['n1', true, true],
          ['n2', false, true],
        ],
      )
      assert.equal(snap.members[1].lastHeard.via, 'ping')
      assert.equal(snap.members[1].address, `127.0.0.1:${nodes[1]?.receiver}`)
      assert.equal(snap.contexts[0].path, '/demo')
      assert.equal(typeof snap.traffic.messagesOutPerSecond, 'number')
      assert.ok(snap.memory.rss > 0)
      assert.deepEqual(
        snap.events.map((e: { event: string; member: string }) => [e.event, e.member]),
        [['joined', 'n2']],
      )
    } finally {
      s.close()
    }
  })

  it('shows every figure of the page in /metrics too', async () => {
    const metrics = await (await admin('/metrics', bearer)).text()
    for (const re of [
      /cattery_ready 1/,
      new RegExp(
        `cattery_member_ready\\{member="n2",address="127.0.0.1:${nodes[1]?.receiver}",domain=""\\} 1`,
      ),
      /cattery_member_joined_timestamp_seconds\{member="n2"\} \d/,
      /cattery_member_last_heard_seconds\{member="n2",via="ping"\} \d/,
      /cattery_send_queue_member_messages\{member="n2"\} 0/,
      /cattery_send_queue_member_bytes\{member="n2"\} 0/,
      /cattery_channel_send_failures_total 0/,
      /cattery_channel_messages_total\{direction="sent"\}/,
      /cattery_channel_bytes_total\{direction="received"\}/,
      /cattery_membership_events_total\{event="joined",reason=""\} 1/,
      /cattery_state_transfer_in_progress\{context="\/demo"\} 0/,
      /cattery_sessions_active\{context="\/demo"\}/,
      /cattery_memory_bytes\{kind="rss"\} \d/,
      /cattery_memory_bytes\{kind="heapUsed"\} \d/,
      /cattery_dashboard_streams \d/,
    ])
      assert.match(metrics, re)
  })

  it('serves at most 16 streams at once: the next is refused 503 with a coded error until one closes', async () => {
    const open: Stream[] = []
    try {
      for (let i = 0; i < 16; i++) open.push(await openStream(nodes[1] as HttpNode))
      assert.ok(open.every((s) => s.status === 200))
      const refused = await openStream(nodes[1] as HttpNode)
      assert.equal(refused.status, 503)
      assert.equal((refused.body as { code: string }).code, 'CATTERY_ERR_DASHBOARD_BUSY')
      open.shift()?.close()
      const again = await until('a place to free up', async () => {
        const s = await openStream(nodes[1] as HttpNode)
        if (s.status === 200) return s
        return undefined
      })
      open.push(again)
      const metrics = await (
        await fetch(`http://127.0.0.1:${nodes[1]?.admin}/metrics`, { headers: bearer })
      ).text()
      assert.match(metrics, /cattery_dashboard_streams 16/)
      assert.match(metrics, /cattery_dashboard_streams_refused_total [1-9]/)
    } finally {
      for (const s of open) s.close()
    }
  })
})
