/**
 * The BackupManager when members differ in their applications (a farm deploy that failed on one, a
 * rolling redeploy, another --apps-dir): copies go only to the members that have the context
 * deployed, as in Tomcat (node/session/map-members.ts). 4 node processes; n4 has no /demo.
 */
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { demoStats, holders, untilRoles } from '../helpers/backup-copies.ts'
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

const url = (n: HttpNode, p: string) => `http://127.0.0.1:${n.http}/demo${p}`
/** Pushes that failed, summed over `nodes` (ownership-transfer.ts counters). */
const pushFailures = async (nodes: HttpNode[]) =>
  (await Promise.all(nodes.map(demoStats))).reduce((n, st) => n + st.placement.pushFailures, 0)
/** Log lines of `n` that name a refused message for a context it does not serve. */
const refusedLines = (n: HttpNode) =>
  n.process.lines.filter((l) => JSON.stringify(l).includes('CATTERY_ERR_NO_CONTEXT_MANAGER'))

describe('BackupManager on 4 node processes, one of which does not have /demo', () => {
  let nodes: HttpNode[] = []
  before(async () => {
    const empty = mkdtempSync(path.join(os.tmpdir(), 'cattery-no-apps-'))
    const plan = await planCluster(4, ['--manager', 'backup', '--backups', '1'])
    nodes = await Promise.all([
      startHttpNode(plan, 0),
      startHttpNode(plan, 1),
      startHttpNode(plan, 2),
      startHttpNode(plan, 3, ['--apps-dir', empty]),
    ])
    await Promise.all(nodes.map((n) => started(n, 60_000)))
    await formed(nodes, 30_000)
  })
  after(() => Promise.all(nodes.map((n) => n.process.stop('SIGKILL'))))

  const sessions: Array<{ id: string; cookie: string; v: string }> = []

  it('the members with /demo place sessions among themselves only: each held by exactly 2 of them, none by n4, readable from the three', async () => {
    const [n1, n2, n3, n4] = nodes as [HttpNode, HttpNode, HttpNode, HttpNode]
    const demo = [n1, n2, n3]
    assert.equal(await demoStats(n4), undefined, 'n4 does not serve /demo')
    // The map settled: each member with /demo places over the three.
    await until(
      'every /demo member to see the other two in its map',
      async () => (await Promise.all(demo.map(demoStats))).every((st) => st.placement.members === 3),
      30_000,
    )
    const failuresBefore = await pushFailures(demo)
    const refusedBefore = refusedLines(n4).length
    for (let i = 0; i < 200; i++) {
      const n = demo[i % 3] as HttpNode
      const r = await getJson(url(n, `/set?k=v&v=${n.name}-${i}`))
      assert.equal(r.status, 200)
      sessions.push({ id: r.body.sessionId, cookie: cookieOf(r.setCookie), v: `${n.name}-${i}` })
    }
    await untilRoles(demo, { primary: 200, backup: 200, proxy: 0 })
    for (const s of sessions) {
      const h = await holders(nodes, s.id)
      assert.equal(h.length, 2, `session ${s.id} held by ${h}`)
      assert.ok(!h.includes('n4'), `session ${s.id} held by ${h}`)
    }
    assert.equal(await pushFailures(demo), failuresBefore, 'no push failed')
    assert.deepEqual(refusedLines(n4).slice(refusedBefore), [], 'nothing for /demo reached n4')
    for (const s of sessions)
      for (const n of demo) {
        const r = await getJson(url(n, '/get?k=v'), s.cookie)
        assert.equal(r.status, 200)
        assert.equal(r.body.v, s.v, `${s.id} read on ${n.name}`)
      }
    assert.deepEqual(refusedLines(n4), [], 'n4 never refused a /demo message: none was sent to it')
  })

  it('kill -9 of one of the three: every session is back to 2 copies on the two left, and readable there', async () => {
    const [n1, n2, n3, n4] = nodes as [HttpNode, HttpNode, HttpNode, HttpNode]
    assert.equal(sessions.length, 200)
    n3.process.child.kill('SIGKILL')
    const left = [n1, n2]
    await until(
      'n1 and n2 to see n3 gone',
      async () =>
        (await Promise.all([...left, n4].map(status))).every(
          (s) => !s.members.some((m: { name: string }) => m.name === 'n3'),
        ),
      30_000,
    )
    // Proxies of the reads above may still be in place: each of the two owns every session now.
    await untilRoles(left, { primary: 200, backup: 200, proxy: 0 })
    for (const s of sessions) {
      const h = await holders([...left, n4], s.id)
      assert.deepEqual(h, ['n1', 'n2'], `session ${s.id}`)
    }
    for (const s of sessions)
      for (const n of left) {
        const r = await getJson(url(n, '/get?k=v'), s.cookie)
        assert.equal(r.status, 200)
        assert.equal(r.body.v, s.v, `${s.id} read on ${n.name}`)
      }
    assert.deepEqual(refusedLines(n4), [], 'still nothing for /demo reached n4')
  })
})
