import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import {
  formed,
  getJson,
  type HttpNode,
  planCluster,
  started,
  startHttpNode,
  until,
} from '../helpers/http-nodes.ts'

describe('graceful stop', () => {
  let nodes: HttpNode[] = []
  after(() => Promise.all(nodes.map((n) => n.process.stop('SIGKILL'))))

  it('on SIGTERM a node finishes its replication, announces its departure and exits 0', async () => {
    const plan = await planCluster(2)
    nodes = [await startHttpNode(plan, 0), await startHttpNode(plan, 1)]
    await Promise.all(nodes.map((n) => started(n)))
    await formed(nodes)
    const [a, b] = nodes as [HttpNode, HttpNode]
    const ids: string[] = []
    for (let i = 0; i < 50; i++)
      ids.push((await getJson(`http://127.0.0.1:${a.http}/demo/set?k=i&v=${i}`)).body.sessionId)
    const mark = b.process.lines.length
    a.process.child.kill('SIGTERM')
    const exit = await a.process.exited
    assert.equal(exit.code, 0)
    const gone = await b.process.waitFor((l) => l.event === 'member-disappeared', 5000, mark)
    assert.equal(gone.reason, 'shutdown')
    await until('every session on the survivor', async () => {
      const answers = await Promise.all(
        ids.map((id) => getJson(`http://127.0.0.1:${b.admin}/sessions/${id}?context=/demo`)),
      )
      return answers.every((r) => r.status === 200)
    })
  })
})
