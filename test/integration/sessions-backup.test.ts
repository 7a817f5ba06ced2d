import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { holders, roles, untilRoles } from '../helpers/backup-copies.ts'
import {
  cookieOf,
  createSessions,
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
async function startCluster(size: number, backups: number): Promise<HttpNode[]> {
  const plan = await planCluster(size, ['--manager', 'backup', '--backups', String(backups)])
  const nodes = await Promise.all(Array.from({ length: size }, (_, i) => startHttpNode(plan, i)))
  await Promise.all(nodes.map((n) => started(n, 60_000)))
  await formed(nodes, 30_000)
  return nodes
}

/** Creates `count` sessions on `n` (value v=i), returns their ids and cookies. */
async function create(n: HttpNode, count: number) {
  const out: Array<{ id: string; cookie: string; v: string }> = []
  for (let i = 0; i < count; i++) {
    const r = await getJson(url(n, `/set?k=v&v=${n.name}-${i}`))
    assert.equal(r.status, 200)
    out.push({ id: r.body.sessionId, cookie: cookieOf(r.setCookie), v: `${n.name}-${i}` })
  }
  return out
}

describe('BackupManager on 5 node processes, one backup (k=1)', () => {
  let nodes: HttpNode[] = []
  before(async () => {
    nodes = await startCluster(5, 1)
  })
  after(() => Promise.all(nodes.map((n) => n.process.stop('SIGKILL'))))

  it('a session is held by exactly 2 members, its creator first, and is readable from all five', async () => {
    const [n1] = nodes as [HttpNode]
    const sessions = await create(n1, 20)
    for (const s of sessions) {
      const h = await holders(nodes, s.id)
      assert.equal(h.length, 2, `session ${s.id} held by ${h}`)
      assert.ok(h.includes('n1'), 'the creator holds it')
    }
    assert.deepEqual(await roles(nodes), { primary: 20, backup: 20, proxy: 0 })
    const metrics = (await getJson(`http://127.0.0.1:${n1.admin}/metrics`)).body as string
    assert.match(metrics, /cattery_sessions_held\{context="\/demo",role="primary"\} 20/)
    const s = sessions[0] as { id: string; cookie: string; v: string }
    for (const n of nodes) {
      const r = await getJson(url(n, '/get?k=v'), s.cookie)
      assert.equal(r.body.v, s.v, `read on ${n.name}`)
      assert.equal(r.body.node, n.name)
    }
    // The members that fetched it keep a proxy copy for a while, then drop it: 2 copies again.
    await until('proxies dropped', async () => (await holders(nodes, s.id)).length === 2, 20_000)
    assert.deepEqual(await roles(nodes), { primary: 20, backup: 20, proxy: 0 })
  })

  it('a write on a member that does not hold the session reaches its owners (read your writes)', async () => {
    const [n1, n2, n3, n4, n5] = nodes as [HttpNode, HttpNode, HttpNode, HttpNode, HttpNode]
    const r = await getJson(url(n1, '/inc'))
    let cookie = cookieOf(r.setCookie)
    const version = /JSESSIONID_V=([^;]+)/.exec(r.setCookie ?? '')
    assert.ok(version, 'the version cookie is set')
    let v = `JSESSIONID_V=${version[1]}`
    let last = r.body.count as number
    for (let i = 0; i < 20; i++) {
      const n = [n2, n3, n4, n5, n1][i % 5] as HttpNode
      const got = await getJson(url(n, '/inc'), `${cookie}; ${v}`)
      assert.equal(got.status, 200)
      assert.equal(got.body.count, last + 1, `increment ${i} on ${n.name}`)
      last = got.body.count
      const set = got.setCookie ?? ''
      const sid = /JSESSIONID=([^;]+)/.exec(set)
      if (sid) cookie = `JSESSIONID=${sid[1]}`
      const ver = /JSESSIONID_V=([^;]+)/.exec(set)
      if (ver) v = `JSESSIONID_V=${ver[1]}`
    }
  })

  it('kill -9 of the primary: every one of its sessions is still served with its value, rebound to the serving member once the primary left its view, and back to 2 copies', async () => {
    const [n1, ...rest] = nodes as [HttpNode, ...HttpNode[]]
    const sessions = await create(n1, 200)
    const total = (await roles(nodes)).primary
    n1.process.child.kill('SIGKILL')
    const killed = Date.now()
    /** Reads `s` on `n`: its value; a new session cookie (JvmRouteBinder) keeps the id's base and names `n`. */
    const read = async (s: { id: string; cookie: string; v: string }, n: HttpNode) => {
      const r = await getJson(url(n, '/get?k=v'), s.cookie)
      assert.equal(r.status, 200, `${s.id} on ${n.name}`)
      assert.equal(r.body.v, s.v, `${s.id} on ${n.name}`)
      if (!r.setCookie?.includes('JSESSIONID=')) return
      const rebound = `${s.id.slice(0, s.id.indexOf('.'))}.${n.name}`
      assert.equal(cookieOf(r.setCookie), `JSESSIONID=${rebound}`, `${s.id} served by ${n.name}`)
      assert.equal(r.body.sessionId, rebound)
      s.id = rebound
      s.cookie = `JSESSIONID=${rebound}`
    }
    // At once, each on the survivors in turn (some while n1 may still be in the serving member's view:
    // its route is then left alone).
    for (const [i, s] of sessions.entries()) await read(s, rest[i % rest.length] as HttpNode)
    const servedAll = Date.now() - killed
    // Once n1 left every survivor's view, a cookie still naming it is rebound to the member serving it.
    await until(
      'n1 to leave every view',
      async () =>
        (await Promise.all(rest.map((n) => status(n)))).every((x) => x.members.length === rest.length - 1),
      30_000,
    )
    const before = sessions.filter((s) => s.id.endsWith('.n1')).length
    for (const [i, s] of sessions.entries())
      if (s.id.endsWith('.n1')) await read(s, rest[(i + 1) % rest.length] as HttpNode)
    for (const s of sessions)
      assert.ok(!s.id.endsWith('.n1'), `${s.id}: still the route of the killed member`)
    await until(
      'every session back to 2 copies',
      async () => {
        const r = await roles(rest)
        return r.primary === total && r.backup === total
      },
      60_000,
    )
    const ms = Date.now() - killed
    // The members that served the reads above drop their proxy copies after their lifetime.
    await untilRoles(rest, { primary: total, backup: total, proxy: 0 })
    process.stdout.write(
      `# kill -9 of a primary (${total} sessions): its 200 served within ${servedAll} ms, ${200 - before} rebound at once and ${before} once it left the views, back to 1+k copies ${ms} ms after\n`,
    )
    for (const x of sessions) assert.equal((await holders(rest, x.id)).length, 2, x.id)
    nodes = rest
  })

  it('with k=1, losing the primary and the backup together loses the session (the documented loss)', async () => {
    const [a] = nodes as [HttpNode]
    const [s] = await create(a, 1)
    const id = (s as { id: string }).id
    const h = await holders(nodes, id)
    const [p, b] = h.map((name) => nodes.find((n) => n.name === name) as HttpNode) as [HttpNode, HttpNode]
    p.process.child.kill('SIGKILL')
    b.process.child.kill('SIGKILL')
    nodes = nodes.filter((n) => n !== p && n !== b)
    await until(
      'the view to shrink',
      async () => (await status(nodes[0] as HttpNode)).members.length === nodes.length - 1,
    )
    const r = await getJson(url(nodes[0] as HttpNode, '/get?k=v'), (s as { cookie: string }).cookie)
    assert.equal(r.body.v, null, 'a new session, without the value')
  })
})

/** Each node's repair passes so far (/status: the context's stats.placement.repairPasses). */
async function repairPasses(nodes: HttpNode[]): Promise<number[]> {
  return (await Promise.all(nodes.map((n) => status(n)))).map(
    (s) => s.contexts.find((c: { path: string }) => c.path === '/demo').stats.placement.repairPasses,
  )
}

describe('BackupManager after a kill -9 on 5 node processes (k=1): repair settles', () => {
  let nodes: HttpNode[] = []
  before(async () => {
    nodes = await startCluster(5, 1)
  })
  after(() => Promise.all(nodes.map((n) => n.process.stop('SIGKILL'))))

  it('once every session is back to 2 copies, the survivors stop running repair passes', async () => {
    const [victim, ...rest] = nodes as [HttpNode, ...HttpNode[]]
    const sessions = [...(await create(victim, 100)), ...(await create(rest[0] as HttpNode, 100))]
    // Read on every member: a member that does not own a session keeps a proxy copy, and the kill
    // makes some of those copies owned (they are proxies no more).
    for (const s of sessions.slice(0, 40)) for (const n of nodes) await getJson(url(n, '/get?k=v'), s.cookie)
    const total = (await roles(nodes)).primary
    victim.process.child.kill('SIGKILL')
    const killed = Date.now()
    nodes = rest
    await untilRoles(rest, { primary: total, backup: total, proxy: 0 })
    const back = Date.now() - killed
    const first = await repairPasses(rest)
    const series: string[] = []
    let last = first
    for (let t = 0; t < 5; t++) {
      await new Promise((r) => setTimeout(r, 1_000))
      last = await repairPasses(rest)
      series.push(`${Date.now() - killed} ms ${JSON.stringify(last)}`)
    }
    process.stdout.write(
      `# repair passes per survivor, back to 2 copies ${back} ms after kill -9: ${JSON.stringify(first)}; ${series.join('; ')}\n`,
    )
    // The pass after the change, the one once the view settled and those for proxies past their
    // lifetime are done by now; a pass every tick (0.5 s) would be 10 in these 5 s.
    for (const [i, n] of rest.entries()) {
      const grown = (last[i] ?? 0) - (first[i] ?? 0)
      assert.ok(grown <= 2, `${n.name} ran ${grown} repair passes in the 5 s after the copies were back`)
    }
  })
})

describe('BackupManager on 5 node processes, two backups (k=2)', () => {
  let nodes: HttpNode[] = []
  before(async () => {
    nodes = await startCluster(5, 2)
  })
  after(() => Promise.all(nodes.map((n) => n.process.stop('SIGKILL'))))

  it('a session is held by 3 members and survives the loss of two of them at once', async () => {
    const [n1] = nodes as [HttpNode]
    const sessions = await create(n1, 30)
    for (const s of sessions.slice(0, 5)) assert.equal((await holders(nodes, s.id)).length, 3)
    const s = sessions[0] as { id: string; cookie: string; v: string }
    const h = await holders(nodes, s.id)
    const gone = h.slice(0, 2).map((name) => nodes.find((n) => n.name === name) as HttpNode)
    for (const g of gone) g.process.child.kill('SIGKILL')
    const rest = nodes.filter((n) => !gone.includes(n))
    const killed = Date.now()
    for (const n of rest) {
      const r = await getJson(url(n, '/get?k=v'), s.cookie)
      assert.equal(r.body.v, s.v, `read on ${n.name}`)
    }
    await untilRoles(rest, { primary: 30, backup: 60, proxy: 0 })
    process.stdout.write(`# k=2: back to 3 copies ${Date.now() - killed} ms after kill -9 of two owners\n`)
    nodes = rest
  })
})

/** A client that keeps both cookies (session and version), as a browser does. */
interface Client {
  cookies: Map<string, string>
  /** The last count acknowledged to it. */
  acked: number
  /** Attempts without an answer since then (each may or may not have been applied). */
  unanswered: number
  id?: string
}
const newClients = (n: number): Client[] =>
  Array.from({ length: n }, () => ({ cookies: new Map(), acked: 0, unanswered: 0 }))
const cookieHeader = (c: Client) => [...c.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
function keep(c: Client, setCookie: string | null) {
  for (const part of (setCookie ?? '').split(/,(?=\s*JSESSIONID)/)) {
    const m = /^\s*(JSESSIONID(?:_V)?)=([^;]*)/.exec(part)
    if (m) c.cookies.set(m[1] as string, m[2] as string)
  }
}

/**
 * `clients` sessions incremented in turn on the members a balancer routes to (round robin) until
 * stopped. A request that gets no answer (or not a 200) is retried once, at once, on the next member,
 * as a browser retries a request whose connection was closed; `failed` counts requests whose retry
 * failed too. Each failed attempt is noted with whether its member was still routed to then: one a
 * restart legitimately closes was sent to a member taken out of routing (it was stopping).
 */
const errorOf = (e: unknown) => String((e as Error).cause ?? e)

function load(routed: () => HttpNode[], clients: Client[]) {
  let stopped = false
  const stats = { ok: 0, retried: 0, failed: 0, stale: 0, jumps: 0 }
  /** Failed attempts (first ones and retries): the member, whether it was still routed to, the error. */
  const failures: Array<{ node: string; routed: boolean; error: string }> = []
  const attempt = async (c: Client, n: HttpNode) => {
    const r = await getJson(url(n, '/inc'), cookieHeader(c))
    if (r.status !== 200) throw new Error(`HTTP ${r.status} ${JSON.stringify(r.body)}`)
    return r
  }
  const run = async (c: Client, i: number) => {
    let turn = i
    while (!stopped) {
      const pick = () => {
        const nodes = routed()
        return nodes[turn++ % nodes.length] as HttpNode
      }
      const n = pick()
      let r: Awaited<ReturnType<typeof attempt>> | undefined
      try {
        r = await attempt(c, n)
      } catch (e) {
        failures.push({ node: n.name, routed: routed().includes(n), error: errorOf(e) })
        stats.retried++
        c.unanswered++
        const next = pick()
        r = await attempt(c, next).catch((e) => {
          failures.push({ node: next.name, routed: routed().includes(next), error: `retry: ${errorOf(e)}` })
          return undefined
        })
      }
      if (!r) {
        stats.failed++
        c.unanswered++
        await new Promise((r) => setTimeout(r, 20))
        continue
      }
      keep(c, r.setCookie)
      const count = r.body.count as number
      if (count <= c.acked) {
        stats.stale++
        process.stdout.write(
          `# STALE ${Date.now()} ${r.body.node} ${r.body.sessionId} got ${count} acked ${c.acked} ${r.setCookie}\n`,
        )
      } else if (count > c.acked + 1 + c.unanswered) stats.jumps++
      c.acked = Math.max(c.acked, count)
      c.unanswered = 0
      c.id = r.body.sessionId
      stats.ok++
    }
  }
  const done = Promise.all(clients.map(run))
  return {
    stats,
    failures,
    stop: async () => {
      stopped = true
      await done
    },
  }
}

/**
 * What a load through a restart may show: no stale read, no skipped value, every request answered
 * (at the latest by its one retry), and first attempts failed only on members taken out of routing —
 * at most one per client each time one is (the request it had in flight there).
 */
function assertLoadThroughStops(l: ReturnType<typeof load>, clients: number, stops: number) {
  assert.equal(l.stats.stale, 0, 'no stale read')
  assert.equal(l.stats.jumps, 0, 'no answer skipped a value')
  assert.equal(
    l.stats.failed,
    0,
    `every request answered, at the latest by its retry: ${JSON.stringify(l.failures.slice(-5))}`,
  )
  const routedFailures = l.failures.filter((f) => f.routed)
  assert.deepEqual(routedFailures.slice(0, 5), [], `${routedFailures.length} failures on members routed to`)
  assert.ok(
    l.stats.retried <= clients * stops,
    `${l.stats.retried} retried for ${stops} stops of ${clients} clients`,
  )
}

/**
 * The value of every client's session, read on `n` once the load stopped, is its last acknowledged
 * count: every request was answered (assertLoadThroughStops), so none was applied after it.
 */
async function assertEveryLastWriteHeld(n: HttpNode, clients: Client[]) {
  for (const c of clients) {
    const r = await getJson(url(n, '/get?k=count'), cookieHeader(c))
    assert.equal(r.body.v, c.acked, `session ${c.id}: its last acknowledged count`)
  }
}

describe('BackupManager: a joiner takes its share, and SIGTERM hands sessions over (5 processes, k=1)', () => {
  const nodes: HttpNode[] = []
  /** The members a balancer sends the load to: added once ready, taken out before they are stopped. */
  const routed = new Set<HttpNode>()
  let plan: Awaited<ReturnType<typeof planCluster>>
  before(async () => {
    plan = await planCluster(5, ['--manager', 'backup'])
    nodes.push(...(await Promise.all([0, 1, 2, 3].map((i) => startHttpNode(plan, i)))))
    await Promise.all(nodes.map((n) => started(n, 60_000)))
    await formed(nodes, 30_000)
  })
  after(() => Promise.all(nodes.map((n) => n.process.stop('SIGKILL'))))

  it('a joiner holds only its share, and holds it when it reports ready', async () => {
    await create(nodes[0] as HttpNode, 150)
    await create(nodes[1] as HttpNode, 50)
    // The donors' views settle (a repair pass over the same view) before the joiner comes.
    await new Promise((r) => setTimeout(r, 3_500))
    const joiner = await startHttpNode(plan, 4)
    nodes.push(joiner)
    await started(joiner, 60_000)
    const atReady = (await status(joiner)).contexts.find((c: { path: string }) => c.path === '/demo').stats
    await untilRoles(nodes, { primary: 200, backup: 200, proxy: 0 })
    const settled = (await status(joiner)).contexts.find((c: { path: string }) => c.path === '/demo').stats
    const share = settled.primary + settled.backup
    assert.ok(share > 20 && share < 160, `the joiner's share of 400 copies: ${share}`)
    assert.equal(atReady.primary + atReady.backup, share, 'it held its share when it reported ready')
    assert.equal(settled.sessions ?? settled.active, share)
    // Each session of its share was sent once (by one of its two holders), not by each holder.
    assert.equal(atReady.transferredSessions, share, 'sessions received by state transfer')
  })

  it('SIGTERM under load: the member leaves placement before it hands over, every request is answered (a retry at most), and every session holds its last acknowledged write', async () => {
    for (const n of nodes) routed.add(n)
    const clients = newClients(20)
    const stopping = nodes[1] as HttpNode
    const live = () => nodes.filter((n) => n !== stopping && n.process.child.exitCode === null)
    const l = load(() => [...routed], clients)
    // New sessions too (each placed on two members), created on the members that stay.
    let creating = true
    const created: Array<{ cookie: string; v: string }> = []
    let creatorFailed = 0
    const creator = (async () => {
      for (let i = 0; creating; i++) {
        const n = live()[i % 4] as HttpNode
        const r = await getJson(url(n, `/set?k=v&v=c${i}`)).catch(() => undefined)
        if (r?.status === 200) created.push({ cookie: cookieOf(r.setCookie), v: `c${i}` })
        else creatorFailed++
      }
    })()
    await until('every client wrote', async () => clients.every((c) => c.acked >= 2), 30_000)
    const mark = stopping.process.lines.length
    // The balancer stops sending it requests as it is told to stop (a terminating pod's endpoint).
    routed.delete(stopping)
    await stopping.process.stop('SIGTERM')
    assert.equal((await stopping.process.exited).code, 0)
    await new Promise((r) => setTimeout(r, 500))
    creating = false
    await creator
    await l.stop()
    const lines = stopping.process.lines.slice(mark)
    const announced = lines.findIndex((x) => x.event === 'departure-announced')
    const handed = lines.findIndex((x) => x.event === 'sessions-handed-over')
    assert.ok(announced >= 0 && handed > announced, 'the departure was announced before the hand-off')
    assert.equal(lines[announced]?.acknowledged, 4, 'every other member acknowledged the departure')
    const h = lines[handed] as unknown as {
      handedOver: number
      copiesAfterDeparture: number
      forwarded: number
    }
    assert.ok(h.handedOver > 0, 'sessions were handed over')
    assert.equal(h.copiesAfterDeparture, 0, 'no copy was sent to the member once it announced its departure')
    process.stdout.write(
      `# SIGTERM under load: ${JSON.stringify(l.stats)}, ${created.length} created (${creatorFailed} failed), hand-off ${JSON.stringify(h)}\n`,
    )
    assertLoadThroughStops(l, clients.length, 1)
    assert.equal(creatorFailed, 0, 'every session creation on a member that stays was answered')
    const rest = live()
    await assertEveryLastWriteHeld(rest[0] as HttpNode, clients)
    for (const c of created) {
      const r = await getJson(url(rest[1] as HttpNode, '/get?k=v'), c.cookie)
      assert.equal(r.body.v, c.v, 'a session created during the stop is held')
    }
    const total = (await roles(rest)).primary
    await untilRoles(rest, { primary: total, backup: total, proxy: 0 })
    const fresh = await startHttpNode(plan, 1)
    nodes[1] = fresh
    await started(fresh, 60_000)
    routed.add(fresh)
  })

  it('SIGTERM of each member in turn, restarted, under load: every request is answered (a retry at most), and every session holds its last acknowledged write', async () => {
    const clients = newClients(20)
    const l = load(() => [...routed], clients)
    await until('every client wrote', async () => clients.every((c) => c.acked >= 2), 30_000)
    for (let i = 0; i < 5; i++) {
      const old = nodes[i] as HttpNode
      routed.delete(old)
      await old.process.stop('SIGTERM')
      await new Promise((r) => setTimeout(r, 500))
      const fresh = await startHttpNode(plan, i)
      nodes[i] = fresh
      // The load goes to it only once it is ready (a readiness probe).
      await started(fresh, 60_000)
      routed.add(fresh)
    }
    await new Promise((r) => setTimeout(r, 500))
    await l.stop()
    process.stdout.write(`# rolling SIGTERM restart under load: ${JSON.stringify(l.stats)}\n`)
    assertLoadThroughStops(l, clients.length, 5)
    await assertEveryLastWriteHeld(nodes[2] as HttpNode, clients)
    const total = (await roles(nodes)).primary
    await untilRoles(nodes, { primary: total, backup: total, proxy: 0 })
  })
})

describe('BackupManager: invalidation, a new id and expiry on 4 node processes (k=1)', () => {
  let nodes: HttpNode[] = []
  before(async () => {
    // Sessions time out after 3 s; expiry runs every 0.2 s (Tomcat: 30 min and every 60 s).
    const config = path.join(os.tmpdir(), `cattery-backup-expiry-${process.pid}.yaml`)
    writeFileSync(config, 'manager:\n  processExpiresFrequency: 1\n  backgroundProcessorDelay: 0.2\n')
    const plan = await planCluster(4, ['--manager', 'backup', '--backups', '1', '--config', config])
    nodes = await Promise.all(Array.from({ length: 4 }, (_, i) => startHttpNode(plan, i)))
    await Promise.all(nodes.map((n) => started(n, 60_000)))
    await formed(nodes, 30_000)
  })
  after(() => Promise.all(nodes.map((n) => n.process.stop('SIGKILL'))))

  /** A member that holds no copy of `id` (it would serve it from a proxy copy). */
  const nonOwner = async (id: string) => {
    const h = await holders(nodes, id)
    return nodes.find((n) => !h.includes(n.name)) as HttpNode
  }

  it('an invalidation on a member that does not own the session removes it from its owners', async () => {
    const [s] = await create(nodes[0] as HttpNode, 1)
    const { id, cookie } = s as { id: string; cookie: string }
    await until('2 copies', async () => (await holders(nodes, id)).length === 2)
    const other = await nonOwner(id)
    const out = await getJson(url(other, '/invalidate'), cookie)
    assert.equal(out.body.invalidated, true)
    await until('no copy left', async () => (await holders(nodes, id)).length === 0)
    for (const n of nodes) {
      const r = await getJson(url(n, '/get?k=v'), cookie)
      assert.equal(r.body.v, null, `${n.name} still serves the invalidated session`)
    }
  })

  it('a new id (regenerate) on a member that does not own the session: its owners hold it and the old id is gone within 2 s', async () => {
    const [s] = await create(nodes[1] as HttpNode, 1)
    const { id, cookie, v } = s as { id: string; cookie: string; v: string }
    await until('2 copies', async () => (await holders(nodes, id)).length === 2)
    const other = await nonOwner(id)
    const rest = nodes.filter((n) => n !== other)
    const was = { all: await roles(nodes), rest: await roles(rest) }
    const regen = await getJson(url(other, '/regenerate'), cookie)
    const changed = Date.now()
    const newId = regen.body.sessionId as string
    assert.notEqual(newId, id)
    const newCookie = cookieOf(regen.setCookie)
    // Its two owners hold it (a primary and a backup); no other member keeps a copy but the one that
    // served the change (a proxy, for its client); the old id is held nowhere.
    let last = {}
    await until(
      'the new id on its owners only',
      async () => {
        const all = await roles(nodes)
        const now = {
          all,
          rest: await roles(rest),
          old: await holders(nodes, id),
          fresh: await holders(nodes, newId),
        }
        last = { was, now, other: other.name }
        return (
          all.primary === was.all.primary &&
          all.backup === was.all.backup &&
          now.rest.proxy === was.rest.proxy &&
          now.old.length === 0
        )
      },
      2_000,
    ).catch((e) => {
      throw new Error(`${e.message}: ${JSON.stringify(last)}`)
    })
    process.stdout.write(
      `# a new id made on a non-owner: on its owners only ${Date.now() - changed} ms after\n`,
    )
    // The proxy copy goes after its lifetime: two copies left.
    await until('the new id on 2 members', async () => (await holders(nodes, newId)).length === 2, 20_000)
    for (const n of nodes) {
      const r = await getJson(url(n, '/get?k=v'), newCookie)
      assert.equal(r.body.v, v, `${n.name} reads the session under its new id`)
    }
  })

  it('a session left alone expires on its owners', async () => {
    const r = await getJson(url(nodes[2] as HttpNode, '/set?k=v&v=x'))
    const id = r.body.sessionId as string
    await until('2 copies', async () => (await holders(nodes, id)).length === 2)
    // Its timeout is set to 2 s on the member that serves it.
    await getJson(url(nodes[2] as HttpNode, '/timeout?s=2'), cookieOf(r.setCookie))
    await until('no copy left', async () => (await holders(nodes, id)).length === 0, 15_000)
  })
})

describe('BackupManager: a donor killed in the middle of a state transfer (5 processes, k=1)', () => {
  const nodes: HttpNode[] = []
  let plan: Awaited<ReturnType<typeof planCluster>>
  before(async () => {
    // One session per state-transfer page: each donor's part takes a round trip per session.
    const config = path.join(os.tmpdir(), `cattery-backup-transfer-${process.pid}.yaml`)
    writeFileSync(config, 'manager:\n  sendAllSessionsSize: 1\n')
    plan = await planCluster(5, ['--manager', 'backup', '--config', config])
    nodes.push(...(await Promise.all([0, 1, 2, 3].map((i) => startHttpNode(plan, i)))))
    await Promise.all(nodes.map((n) => started(n, 60_000)))
    await formed(nodes, 30_000)
  })
  after(() => Promise.all(nodes.map((n) => n.process.stop('SIGKILL'))))

  it('the joiner still holds its full share when it reports ready', async () => {
    for (const n of nodes) await createSessions(n, 400)
    // The donors' views settle (a repair pass over the same view) before the joiner comes.
    await new Promise((r) => setTimeout(r, 4_000))
    const joiner = await startHttpNode(plan, 4)
    nodes.push(joiner)
    // Once the joiner asked its first donor, another donor is killed: its part never comes, and the
    // first donor, which left that part to it, must be asked again.
    const asked = 'asking for all sessions'
    const first = await joiner.process.waitFor((l) => l.msg === asked, 60_000)
    const victim = nodes.find(
      (n) => n !== joiner && !(first.donor as string).startsWith(`${n.name}@`),
    ) as HttpNode
    victim.process.child.kill('SIGKILL')
    nodes.splice(nodes.indexOf(victim), 1)
    await started(joiner, 60_000)
    const atReady = (await status(joiner)).contexts.find((c: { path: string }) => c.path === '/demo').stats
    const askedFirst = joiner.process.lines.filter((l) => l.msg === asked && l.donor === first.donor)
    assert.ok(askedFirst.length >= 2, 'the first donor was asked again for the part of the one killed')
    const total = (await roles(nodes)).primary
    await untilRoles(nodes, { primary: total, backup: total, proxy: 0 })
    const settled = (await status(joiner)).contexts.find((c: { path: string }) => c.path === '/demo').stats
    const share = settled.primary + settled.backup
    assert.equal(total, 1600, 'no session lost')
    assert.equal(atReady.primary + atReady.backup, share, 'it held its share when it reported ready')
    assert.ok(
      atReady.transferredSessions >= share,
      `received by state transfer: ${atReady.transferredSessions} of ${share}`,
    )
    process.stdout.write(
      `# donor killed mid-transfer: share ${share}, received by state transfer ${atReady.transferredSessions}\n`,
    )
  })
})
