/**
 * Rotating the cluster secret without losing a session (docs/security.md, "Rotating the secret"):
 * three nodes on `old` walk the three steps — `old\nnew`, `new\nold`, `new` — restarting one node at
 * a time; every restarted node becomes ready through state transfer and the sessions are incremented
 * through it, so replication works in both directions at every moment. At the end every node holds
 * `new` only, every session still has its value on every node, and a member on `old` is refused at
 * the handshake and counted on the receiving side.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { codes } from '../../node/tribes/errors.ts'
import {
  type ClusterPlan,
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

const OLD = randomBytes(32).toString('base64')
const NEW = randomBytes(32).toString('base64')
const STEPS = [`${OLD}\n${NEW}\n`, `${NEW}\n${OLD}\n`, `${NEW}\n`]
const SESSIONS = 12

const fileOf = (i: number) => path.join(os.tmpdir(), `cattery-rotation-${process.pid}-n${i + 1}`)
const writeSecret = (i: number, content: string) => writeFileSync(fileOf(i), content, { mode: 0o600 })

describe('rotating the cluster secret with a rolling restart', () => {
  let plan: ClusterPlan
  const nodes: HttpNode[] = []
  /** Session cookie and the count every node should hold for it. */
  const sessions: Array<{ id: string; cookie: string; count: number }> = []

  const start = async (i: number): Promise<HttpNode> => {
    const n = await startHttpNode(plan, i, ['--cluster-secret-file', fileOf(i)])
    nodes[i] = n
    return n
  }
  /** The count of every session as node `n` holds it (admin API, values shown). */
  const countsOn = async (n: HttpNode) =>
    Promise.all(
      sessions.map(async (s) => {
        const r = await getJson(`http://127.0.0.1:${n.admin}/sessions/${s.id}`)
        return r.status === 200 ? r.body.attributes.count?.value : undefined
      }),
    )
  const replicatedEverywhere = (what: string) =>
    until(what, async () => {
      const want = JSON.stringify(sessions.map((s) => s.count))
      const all = await Promise.all(nodes.slice(0, 3).map(countsOn))
      return all.every((c) => JSON.stringify(c) === want)
    })
  /** Increments every session through node `n`, keeping the cookie it rebinds. */
  const incrementThrough = async (n: HttpNode) => {
    for (const s of sessions) {
      const r = await getJson(`http://127.0.0.1:${n.http}/demo/inc`, s.cookie)
      assert.equal(r.body.count, s.count + 1, `session ${s.id} on ${n.name}`)
      s.count++
      if (r.setCookie?.includes('JSESSIONID=')) s.cookie = cookieOf(r.setCookie)
    }
  }

  before(async () => {
    plan = await planCluster(4, ['--admin-show-session-values'])
    for (const i of [0, 1, 2]) writeSecret(i, `${OLD}\n`)
    await Promise.all([0, 1, 2].map(start))
    await Promise.all(nodes.map((n) => started(n)))
    await formed(nodes)
    for (let i = 0; i < SESSIONS; i++) {
      const r = await getJson(`http://127.0.0.1:${nodes[i % 3]?.http}/demo/inc`)
      sessions.push({
        id: String(r.body.sessionId).replace(/\..*$/, ''),
        cookie: cookieOf(r.setCookie),
        count: 1,
      })
    }
    await replicatedEverywhere('the sessions on every node')
  })
  after(async () => {
    await Promise.all(nodes.map((n) => n.process.stop('SIGKILL')))
    for (const i of [0, 1, 2, 3]) rmSync(fileOf(i), { force: true })
  })

  for (const [step, content] of STEPS.entries()) {
    it(`step ${step + 1} (${['old+new', 'new+old', 'new'][step]}): each node restarts, gets every session by state transfer, and replicates`, async () => {
      for (const i of [0, 1, 2]) {
        const others = [0, 1, 2].filter((j) => j !== i).map((j) => nodes[j] as HttpNode)
        writeSecret(i, content)
        await nodes[i]?.process.stop()
        // Sessions keep changing on the members still running while this one is away.
        await incrementThrough(others[0] as HttpNode)
        const n = await start(i)
        await started(n, 30_000)
        const ready = await n.process.waitFor((l) => l.msg === 'sessions ready')
        assert.equal(ready.sessions, SESSIONS, 'ready before it held every session')
        assert.ok(
          n.process.lines.some((l) => l.msg === 'asking for all sessions'),
          'no state transfer',
        )
        assert.equal((await getJson(`http://127.0.0.1:${n.admin}/readyz`)).status, 200)
        await formed(nodes.slice(0, 3))
        assert.deepEqual(
          await countsOn(n),
          sessions.map((s) => s.count),
        )
        // And what changes on the restarted node reaches the others.
        await incrementThrough(n)
        await replicatedEverywhere(`step ${step + 1}, ${n.name}'s changes on every node`)
      }
    })
  }

  it('ends with every node on the new secret only and every session on every node', async () => {
    const ids = await Promise.all(nodes.map(async (n) => (await status(n)).channel.secretKeyIds))
    assert.equal(ids[0].length, 1)
    assert.deepEqual(ids, [ids[0], ids[0], ids[0]])
    for (const n of nodes)
      assert.deepEqual(
        await countsOn(n),
        sessions.map((s) => s.count),
      )
    assert.ok(sessions.every((s) => s.count === 1 + 9 + 9))
  })

  it('refuses a member still on the old secret at the handshake, counted by the receiving side', async () => {
    const refused = async () =>
      await Promise.all(
        nodes.map(async (n) => (await status(n)).channel.framesRefused[codes.AUTH_FAILED] ?? 0),
      )
    const before = await refused()
    writeSecret(3, `${OLD}\n`)
    const late = await start(3)
    await started(late, 30_000)
    await until('every receiver to count the old secret', async () => {
      const now = await refused()
      return now.slice(0, 3).every((c, i) => c > (before[i] as number))
    })
    await nodes[0]?.process.waitFor(
      (l) =>
        l.code === codes.AUTH_FAILED && /uses a cluster secret this member does not hold/.test(String(l.err)),
    )
    assert.equal((await status(late)).members.length, 0)
    for (const n of nodes.slice(0, 3)) assert.equal((await status(n)).members.length, 2)
  })
})
