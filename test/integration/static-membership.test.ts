import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { type NodeProcess, startStaticCluster, stopAll } from '../helpers/node-process.ts'

const others = (nodes: NodeProcess[], self: NodeProcess) => nodes.filter((n) => n !== self).map((n) => n.name)

for (const size of [3, 5]) {
  describe(`${size} node processes on loopback with static membership`, () => {
    let nodes: NodeProcess[] = []
    after(() => stopAll(nodes))

    it('every node sees every other node', async () => {
      nodes = await startStaticCluster(size)
      await Promise.all(nodes.map((n) => n.waitForView(others(nodes, n), 15_000)))
    })

    it('a node stopped with SIGTERM disappears from every view at once, announced as a shutdown', async (t) => {
      const [stopped, ...rest] = nodes as [NodeProcess, ...NodeProcess[]]
      const marks = rest.map((n) => n.lines.length)
      const at = Date.now()
      await stopped.stop('SIGTERM')
      const seen = await Promise.all(
        rest.map((n, i) =>
          n.waitFor(
            (l) => l.event === 'member-disappeared' && l.member?.name === stopped.name,
            5000,
            marks[i],
          ),
        ),
      )
      for (const l of seen) assert.equal(l.reason, 'shutdown')
      const slowest = Math.max(...seen.map((l) => l.time - at))
      t.diagnostic(`SIGTERM noticed by all ${rest.length} peers within ${slowest} ms`)
      assert.ok(slowest < 1000, `peers took ${slowest} ms to drop a member that announced its departure`)
      nodes = rest
    })

    it('a node killed with SIGKILL disappears from every view, confirmed by the failure detector', async (t) => {
      const [killed, ...rest] = nodes as [NodeProcess, ...NodeProcess[]]
      const marks = rest.map((n) => n.lines.length)
      const at = Date.now()
      await killed.stop('SIGKILL')
      const seen = await Promise.all(
        rest.map((n, i) =>
          n.waitFor(
            (l) => l.event === 'member-disappeared' && l.member?.name === killed.name,
            10_000,
            marks[i],
          ),
        ),
      )
      const slowest = Math.max(...seen.map((l) => l.time - at))
      t.diagnostic(
        `kill -9 noticed by all ${rest.length} peers within ${slowest} ms (reasons: ${seen.map((l) => l.reason)})`,
      )
      for (const n of rest) assert.deepEqual([...n.view()].sort(), others(rest, n).sort())
      nodes = rest
    })
  })
}

describe('a member that restarts', () => {
  let nodes: NodeProcess[] = []
  after(() => stopAll(nodes))

  it('is rejoined as a new member on the same address', async () => {
    nodes = await startStaticCluster(2)
    const [a, b] = nodes as [NodeProcess, NodeProcess]
    await a.waitForView(['n2'])
    const mark = a.lines.length
    await b.stop('SIGKILL')
    await a.waitFor((l) => l.event === 'member-disappeared' && l.member?.name === 'n2', 10_000, mark)
    const { NodeProcess: Node } = await import('../helpers/node-process.ts')
    const args = b.child.spawnargs.slice(b.child.spawnargs.indexOf('--name') + 2)
    const again = new Node('n2', args)
    nodes.push(again)
    const added = await a.waitFor((l) => l.event === 'member-added' && l.member?.name === 'n2', 10_000, mark)
    assert.deepEqual(a.view(), ['n2'])
    assert.ok(added)
    await again.waitForView(['n1'])
  })
})
