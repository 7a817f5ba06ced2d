/**
 * A member cut off long enough for its peers to drop it (here: its process stopped with SIGSTOP past
 * the static membership's expireTime) comes back with the same identity: it re-syncs what it missed
 * from the members it finds again, instead of holding their next changes and serving stale copies.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import {
  formed,
  getJson,
  type HttpNode,
  planCluster,
  started,
  startHttpNode,
  status,
  until,
} from '../helpers/http-nodes.ts'

describe('a member that comes back after a gap', () => {
  let nodes: HttpNode[] = []
  after(() => Promise.all(nodes.map((n) => n.process.stop('SIGKILL'))))

  it('re-syncs the sessions created and changed while it was gone, then takes their next changes (none dropped as held)', async () => {
    const plan = await planCluster(3, ['--send-options', '6', '--admin-show-session-values'])
    nodes = [await startHttpNode(plan, 0), await startHttpNode(plan, 1), await startHttpNode(plan, 2)]
    await Promise.all(nodes.map((n) => started(n)))
    await formed(nodes)
    const [a, , c] = nodes as [HttpNode, HttpNode, HttpNode]
    const first = await getJson(`http://127.0.0.1:${a.http}/demo/set?k=v&v=before`)
    const cookie = first.setCookie?.split(';')[0] as string
    const id = String(first.body.sessionId)
    await until(
      'the session on c',
      async () => (await getJson(`http://127.0.0.1:${c.admin}/sessions/${id}`)).status === 200,
    )

    // c stops answering: its peers drop it after expireTime (5 s).
    const mark = a.process.lines.length
    process.kill(c.process.child.pid as number, 'SIGSTOP')
    await a.process.waitFor((l) => l.event === 'member-disappeared' && l.member?.name === 'n3', 15_000, mark)
    // Meanwhile: the session changes, and another is created.
    await getJson(`http://127.0.0.1:${a.http}/demo/set?k=v&v=after`, cookie)
    const second = await getJson(`http://127.0.0.1:${a.http}/demo/set?k=v&v=new`)
    const id2 = String(second.body.sessionId)

    process.kill(c.process.child.pid as number, 'SIGCONT')
    const value = async (node: HttpNode, sid: string) => {
      const r = await getJson(`http://127.0.0.1:${node.admin}/sessions/${sid}`)
      return r.status === 200 ? r.body.attributes.v?.value : undefined
    }
    await until(
      'c to hold what changed while it was gone',
      async () => (await value(c, id)) === 'after' && (await value(c, id2)) === 'new',
      20_000,
    ).catch(() => undefined)
    assert.deepEqual([await value(c, id), await value(c, id2)], ['after', 'new'])
    const resyncs = (await Promise.all(nodes.map(status))).map((x) => x.contexts[0].stats.resyncs)
    assert.ok(
      resyncs.some((n: number) => n >= 1),
      `a re-sync ran somewhere (${resyncs})`,
    )

    // The next change of each after the rejoin (issue 12: the one that used to be dropped as held).
    const cookie2 = second.setCookie?.split(';')[0] as string
    await getJson(`http://127.0.0.1:${a.http}/demo/set?k=v&v=next`, cookie)
    await getJson(`http://127.0.0.1:${a.http}/demo/set?k=v&v=next2`, cookie2)
    await until(
      'c to take the next changes',
      async () => (await value(c, id)) === 'next' && (await value(c, id2)) === 'next2',
      20_000,
    ).catch(() => undefined)
    for (const node of nodes)
      assert.deepEqual([await value(node, id), await value(node, id2)], ['next', 'next2'])
    const dropped = (await Promise.all(nodes.map(status))).map((x) => x.contexts[0].stats.heldDropped)
    assert.deepEqual(dropped, [0, 0, 0], 'heldDropped on each node')
  })
})
