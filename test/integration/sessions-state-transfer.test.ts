import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  type ClusterPlan,
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

const SESSIONS = 10_000

const sessionsOn = async (n: HttpNode) => (await status(n)).contexts[0].sessions as number

describe('state transfer to joining nodes', () => {
  let plan: ClusterPlan
  const nodes: HttpNode[] = []
  before(async () => {
    // Small pages make the transfer long enough to kill a donor in the middle of it.
    const config = path.join(os.tmpdir(), `cattery-transfer-${process.pid}.yaml`)
    writeFileSync(config, 'manager:\n  sendAllSessionsSize: 100\n')
    plan = await planCluster(4, ['--config', config])
    nodes.push(await startHttpNode(plan, 0), await startHttpNode(plan, 1))
    await Promise.all(nodes.map((n) => started(n)))
    await formed(nodes)
    await createSessions(nodes[0] as HttpNode, SESSIONS)
    await until(
      'all sessions on n2',
      async () => (await sessionsOn(nodes[1] as HttpNode)) === SESSIONS,
      30_000,
    )
  })
  after(() => Promise.all(nodes.map((n) => n.process.stop('SIGKILL'))))

  it(`a joining node holds all ${SESSIONS} sessions before it reports ready`, async (t) => {
    const joiner = await startHttpNode(plan, 2)
    nodes.push(joiner)
    const readyz = `http://127.0.0.1:${joiner.admin}/readyz`
    const t0 = Date.now()
    let notReady = 0
    await until(
      'the joiner to be ready',
      async () => {
        const r = await getJson(readyz).catch(() => ({ status: 0 }))
        if (r.status !== 200) {
          notReady++
          return false
        }
        return true
      },
      30_000,
    )
    t.diagnostic(`joiner ready ${Date.now() - t0} ms after start (polled not-ready ${notReady} times)`)
    assert.equal(await sessionsOn(joiner), SESSIONS, 'ready before it held every session')
    const one = await getJson(`http://127.0.0.1:${joiner.admin}/status`)
    assert.equal(one.body.ready, true)
  })

  it('a joiner whose donor is killed mid-transfer gets everything from another member', async () => {
    const joiner = await startHttpNode(plan, 3)
    nodes.push(joiner)
    const asking = await joiner.process.waitFor((l) => l.msg === 'asking for all sessions', 20_000)
    const donorName = String(asking.donor).split('@')[0]
    const donor = nodes.find((n) => n.name === donorName) as HttpNode
    await donor.process.stop('SIGKILL')
    await joiner.process.waitFor(
      (l) => l.msg === 'state transfer from this member failed; trying another',
      20_000,
    )
    await started(joiner)
    assert.equal(await sessionsOn(joiner), SESSIONS)
  })
})

describe('nodes starting at the same time', () => {
  const nodes: HttpNode[] = []
  after(() => Promise.all(nodes.map((n) => n.process.stop('SIGKILL'))))

  for (const size of [2, 3]) {
    it(`${size} nodes started together do not wait on each other, and then replicate`, async () => {
      const plan = await planCluster(size)
      const group = await Promise.all(Array.from({ length: size }, (_, i) => startHttpNode(plan, i)))
      nodes.push(...group)
      const t0 = Date.now()
      await Promise.all(group.map((n) => started(n, 10_000)))
      assert.ok(Date.now() - t0 < 10_000)
      await formed(group)
      const r = await getJson(`http://127.0.0.1:${group[0]?.http}/demo/set?k=a&v=b`)
      const last = group.at(-1) as HttpNode
      await until('replication', async () => (await sessionsOn(last)) === 1)
      assert.equal(r.status, 200)
    })
  }
})
