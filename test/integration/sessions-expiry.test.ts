import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  cookieOf,
  formed,
  getJson,
  type HttpNode,
  planCluster,
  started,
  startHttpNode,
  until,
} from '../helpers/http-nodes.ts'

// Sessions time out after 3 s; expiry runs every 0.2 s (Tomcat: 30 min and every 60 s).
const TIMEOUT_MIN = '0.05'

describe('session expiry across the cluster', () => {
  const nodes: HttpNode[] = []
  before(async () => {
    const config = path.join(os.tmpdir(), `cattery-expiry-${process.pid}.yaml`)
    writeFileSync(config, 'manager:\n  processExpiresFrequency: 1\n  backgroundProcessorDelay: 0.2\n')
    const plan = await planCluster(2, ['--config', config, '--session-timeout', TIMEOUT_MIN])
    nodes.push(await startHttpNode(plan, 0), await startHttpNode(plan, 1))
    await Promise.all(nodes.map((n) => started(n)))
    await formed(nodes)
  })
  after(() => Promise.all(nodes.map((n) => n.process.stop('SIGKILL'))))

  const held = async (n: HttpNode, id: string) =>
    (await getJson(`http://127.0.0.1:${n.admin}/sessions/${id}?context=/demo`)).status === 200

  it('a session only read on one node stays alive on the others, then expires everywhere', async () => {
    const [a, b] = nodes as [HttpNode, HttpNode]
    const r = await getJson(`http://127.0.0.1:${a.http}/demo/set?k=x&v=1`)
    const cookie = cookieOf(r.setCookie)
    const id = r.body.sessionId as string
    await until('replication', () => held(b, id))
    // Reading it on n1 for longer than its timeout keeps it alive on n2 (accessed messages).
    for (let i = 0; i < 10; i++) {
      await getJson(`http://127.0.0.1:${a.http}/demo/get?k=x`, cookie)
      await sleep(500)
    }
    assert.equal(await held(b, id), true, 'expired on n2 although it was in use on n1')
    const t0 = Date.now()
    await until('expiry on both nodes', async () => !(await held(a, id)) && !(await held(b, id)), 10_000)
    assert.ok(Date.now() - t0 >= 2000, 'expired before its timeout')
  })

  it('an invalidated session is gone on every node', async () => {
    const [a, b] = nodes as [HttpNode, HttpNode]
    const r = await getJson(`http://127.0.0.1:${b.http}/demo/inc`)
    const id = r.body.sessionId as string
    await until('replication', () => held(a, id))
    await getJson(`http://127.0.0.1:${b.http}/demo/invalidate`, cookieOf(r.setCookie))
    await until('invalidation on n1', async () => !(await held(a, id)))
  })
})
