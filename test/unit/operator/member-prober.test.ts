import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, it } from 'node:test'
import pino from 'pino'
import {
  MemberProber,
  type ProberOptions,
  type StatusFetcher,
} from '../../../operator/controller/member-prober.ts'

const D1 = 'a'.repeat(64)
const D2 = 'b'.repeat(64)
const logger = pino({ level: 'silent' })
const KEY = 'prod/shop'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const until = async (done: () => boolean) => {
  for (let i = 0; i < 200 && !done(); i++) await sleep(10)
}

/** A node's /status saying that `name` runs `digest` of shop. */
const says = (name: string, digest: string) => ({
  name,
  farm: { applications: [{ name: 'shop', digest, members: [name], failures: [] }], refused: [] },
})

/** Pods' answers by IP, changed by the test; records every request. */
function pods(answers: Record<string, unknown>) {
  const asked: string[] = []
  let delayMs = 0
  const fetchStatus: StatusFetcher = async (url, token) => {
    const ip = new URL(url).hostname
    asked.push(ip)
    assert.equal(token, 'tok')
    await sleep(delayMs)
    const a = answers[ip]
    if (a === undefined) throw new Error('connect ECONNREFUSED')
    return a
  }
  return { asked, fetchStatus, answers, delay: (ms: number) => (delayMs = ms) }
}

function prober(fetchStatus: StatusFetcher, more: Partial<ProberOptions> = {}) {
  const changes: string[] = []
  const p = new MemberProber({
    logger,
    port: 9090,
    onChange: (k) => changes.push(k),
    fetchStatus,
    fastPollMs: 40,
    slowPollMs: 10_000,
    ...more,
  })
  return { p, changes }
}

const targets = [
  { name: 'shop-0', ip: '10.0.0.1' },
  { name: 'shop-1', ip: '10.0.0.2' },
]
const input = (digest: string | undefined = D1, t = targets) => ({
  targets: t,
  token: 'tok',
  applications: [{ name: 'shop', ...(digest ? { digest } : {}) }],
})

describe('the member prober', () => {
  it('returns at once, asks new pods in the background and enqueues the cluster when they answered', async () => {
    const net = pods({ '10.0.0.1': says('shop-0', D1), '10.0.0.2': says('shop-1', D1) })
    net.delay(20)
    const { p, changes } = prober(net.fetchStatus)
    assert.equal(p.observe(KEY, input()).size, 0, 'nothing known yet, nothing waited for')
    await until(() => changes.length === 2)
    assert.deepEqual(changes, [KEY, KEY])
    const answers = p.observe(KEY, input())
    assert.deepEqual(answers.get('shop-1')?.running, { shop: D1 })
    p.stop()
  })

  it('re-asks on the fast timer while some pod does not run the digest, and enqueues when that changes', async () => {
    const net = pods({ '10.0.0.1': says('shop-0', D1), '10.0.0.2': says('shop-1', D2) })
    const { p, changes } = prober(net.fetchStatus)
    p.observe(KEY, input())
    await sleep(20)
    changes.length = 0
    net.answers['10.0.0.2'] = says('shop-1', D1)
    await until(() => changes.length > 0)
    await sleep(150)
    assert.deepEqual(changes, [KEY], 'one enqueue for the change, none for the same answers again')
    assert.deepEqual(p.observe(KEY, input()).get('shop-1')?.running, { shop: D1 })
    // Converged: the slow timer (10 s here) only; nothing is asked meanwhile.
    const asked = net.asked.length
    await sleep(150)
    assert.equal(net.asked.length, asked)
    p.stop()
  })

  it('reconciles more frequent than the polls do not postpone the next round', async () => {
    const net = pods({ '10.0.0.1': says('shop-0', D2), '10.0.0.2': says('shop-1', D2) })
    const { p } = prober(net.fetchStatus, { fastPollMs: 100 })
    for (let i = 0; i < 40; i++) {
      p.observe(KEY, input())
      await sleep(10)
    }
    assert.ok(net.asked.length >= 4, `asked again on the timer (${net.asked.length} requests)`)
    p.stop()
  })

  it('one request in flight per pod, and at most maxPods pods per cluster', async () => {
    const net = pods({ '10.0.0.1': says('shop-0', D2), '10.0.0.2': says('shop-1', D2) })
    net.delay(1_000)
    const { p } = prober(net.fetchStatus, { maxPods: 1 })
    p.observe(KEY, input())
    await sleep(120) // two fast rounds pass while the first request is still out
    p.observe(KEY, input())
    assert.deepEqual(net.asked, ['10.0.0.1'])
    p.stop()
  })

  it('a pod that stops answering keeps its last answer; one that stops being ready loses it', async () => {
    const net = pods({ '10.0.0.1': says('shop-0', D1), '10.0.0.2': says('shop-1', D1) })
    const { p } = prober(net.fetchStatus)
    p.observe(KEY, input())
    await sleep(20)
    delete net.answers['10.0.0.2']
    await sleep(100)
    assert.equal(p.observe(KEY, input()).size, 2)
    assert.equal(p.observe(KEY, input(D1, targets.slice(0, 1))).size, 1)
    // Ready again (a restarted pod, same name and address): asked afresh, nothing known until it answers.
    net.answers['10.0.0.2'] = says('shop-1', D2)
    assert.equal(p.observe(KEY, input()).has('shop-1'), false)
    await sleep(20)
    assert.deepEqual(p.observe(KEY, input()).get('shop-1')?.running, { shop: D2 })
    p.stop()
  })

  it('asks nothing without a token, without applications, after stop; forgets a cluster', async () => {
    const net = pods({ '10.0.0.1': says('shop-0', D1) })
    const { p } = prober(net.fetchStatus)
    p.observe(KEY, { ...input(), token: undefined })
    p.observe(KEY, { ...input(), applications: [] })
    p.stop()
    p.observe(KEY, input())
    await sleep(60)
    assert.deepEqual(net.asked, [])
    p.start()
    p.observe(KEY, input())
    await sleep(20)
    p.forget(KEY)
    const asked = net.asked.length
    await sleep(100)
    assert.equal(net.asked.length, asked, 'no timer left for a forgotten cluster')
    assert.equal(p.observe(KEY, input()).size, 0)
    p.stop()
  })

  it('asks a real admin server with the bearer token, with a deadline', async () => {
    let slow = false
    const server = http.createServer((req, res) => {
      if (req.headers.authorization !== 'Bearer tok') return void res.writeHead(401).end()
      if (slow) return // never answers
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify(says('shop-0', D1)))
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as AddressInfo).port
    const changes: string[] = []
    const warnings: string[] = []
    const capture = pino(
      { level: 'warn' },
      { write: (line: string) => void warnings.push(JSON.parse(line).err) },
    )
    const p = new MemberProber({ logger: capture, port, onChange: (k) => changes.push(k), timeoutMs: 300 })
    const at = [{ name: 'shop-0', ip: '127.0.0.1' }]
    try {
      p.observe(KEY, input(D1, at))
      for (let i = 0; i < 100 && changes.length === 0; i++) await sleep(20)
      assert.deepEqual(p.observe(KEY, input(D1, at)).get('shop-0'), { running: { shop: D1 }, failures: [] })
      slow = true
      p.observe(KEY, input(D1, [])) // not ready for a moment: asked afresh when it is back
      p.observe(KEY, input(D1, at))
      for (let i = 0; i < 100 && warnings.length === 0; i++) await sleep(20)
      assert.deepEqual(warnings, ['no answer within 300 ms'])
    } finally {
      p.stop()
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    }
  })
})
