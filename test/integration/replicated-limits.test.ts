/**
 * Replicated data obeys the limits of local writes (issue 12, part 3): a hostile member that speaks
 * the wire format sends two real nodes an oversized attribute, a value nested 3,000 deep, a version
 * jump, a future access time, a never-expiring session and a take-over of a session by version.
 * Each is refused on every node, counted by reason in /status and /metrics, logged with the sender,
 * and the sessions read back from every node are as they were; the cluster still replicates.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createChannel } from '../../node/tribes/channel.ts'
import type { Channel } from '../../node/tribes/channel-types.ts'
import { encode } from '../../node/tribes/codec.ts'
import { SendOption } from '../../node/tribes/send-options.ts'
import { memoryLogger } from '../helpers/channels.ts'
import {
  getJson,
  type HttpNode,
  planCluster,
  started,
  startHttpNode,
  status,
  until,
} from '../helpers/http-nodes.ts'

const CTX = '/demo'
const SYNC = SendOption.USE_ACK | SendOption.SYNCHRONIZED_ACK

/** A msgpack value nested `depth` maps deep, as bytes: msgpackr itself cannot encode one this deep. */
const deepBytes = (depth: number) =>
  Buffer.concat([
    Buffer.from(Array(depth).fill([0x81, 0xa1, 0x76]).flat()),
    Buffer.from([0xa4, ...Buffer.from('leaf')]),
  ])

describe('replicated data from a hostile member is checked like local writes', () => {
  let nodes: HttpNode[] = []
  let mallory: Channel
  const logs = memoryLogger('warn')
  let id = ''

  before(async () => {
    const plan = await planCluster(3, ['--admin-show-session-values'])
    nodes = [await startHttpNode(plan, 0), await startHttpNode(plan, 1)]
    await Promise.all(nodes.map((n) => started(n)))
    // The third listed member is the attacker: a channel that speaks the wire format.
    mallory = createChannel({
      name: 'mallory',
      logger: logs.logger,
      membership: {
        type: 'static',
        members: plan.receivers.map((p) => `127.0.0.1:${p}`),
        pingInterval: 500,
        expireTime: 3000,
      },
      receiver: { host: '127.0.0.1', port: plan.receivers[2] as number, autoBind: 1 },
    })
    await mallory.start()
    await until('mallory in the view', async () => mallory.members().length === 2)
    await until('every node to see mallory', async () =>
      (await Promise.all(nodes.map(status))).every((s) => s.members.length === 2),
    )
    const r = await getJson(`http://127.0.0.1:${nodes[0]?.http}/demo/set?k=colour&v=teal`)
    id = r.body.sessionId
    await until('the session on every node', async () =>
      (await Promise.all(nodes.map((n) => session(n)))).every(
        (s) => s.status === 200 && s.body.version === 2,
      ),
    )
  })
  after(async () => {
    await mallory?.stop()
    await Promise.all(nodes.map((n) => n.process.stop('SIGKILL')))
  })

  const session = (n: HttpNode, sid = id) =>
    getJson(`http://127.0.0.1:${n.admin}/sessions/${sid}?context=${CTX}`)
  const everywhere = async (sid = id) => Promise.all(nodes.map(async (n) => (await session(n, sid)).body))
  const refused = async (n: HttpNode) => (await status(n)).contexts[0].stats.refused as Record<string, number>
  const toAll = (payload: unknown) => mallory.send(mallory.members(), payload, SYNC)
  /** A change of the victim session at version `v`. */
  const delta = (v: number, actions: unknown[]) => ({
    k: 'cattery.session',
    type: 'delta',
    ctx: CTX,
    id,
    v,
    a: Date.now(),
    actions,
  })

  const attacks: Array<[string, () => Promise<void>, string]> = [
    [
      'an attribute over maxAttributeSize',
      () => toAll(delta(3, [['set', 'colour', 'x'.repeat(1_100_000)]])),
      'attribute-too-large',
    ],
    [
      'a value nested 3,000 deep',
      async () => {
        const placeholder = '@@deep-value-goes-here@@'
        const body = encode({
          k: 'cattery.session',
          type: 'delta',
          ctx: CTX,
          id,
          v: 3,
          a: Date.now(),
          actions: [['set', 'colour', placeholder]],
        })
        const at = body.indexOf(encode(placeholder))
        const spliced = Buffer.concat([
          body.subarray(0, at),
          deepBytes(3000),
          body.subarray(at + encode(placeholder).length),
        ])
        await mallory.sendEncoded(mallory.members(), spliced, SYNC)
      },
      'too-deep',
    ],
    ['a version jump', () => toAll(delta(1_000_000, [['set', 'colour', 'mallory']])), 'version'],
    [
      'a take-over by a created with version 2^53-1',
      () =>
        toAll({
          k: 'cattery.session',
          type: 'created',
          ctx: CTX,
          session: {
            id,
            creationTime: Date.now(),
            lastAccessedTime: Date.now(),
            maxInactiveInterval: 1800,
            version: 2 ** 53 - 1,
            attributes: [['colour', 'mallory']],
          },
        }),
      'version',
    ],
    [
      'an accessed time an hour in the future',
      () => toAll({ k: 'cattery.session', type: 'accessed', ctx: CTX, id, a: Date.now() + 3_600_000 }),
      'future-time',
    ],
    [
      'a never-expiring max inactive interval',
      () => toAll(delta(3, [['maxInactive', -1]])),
      'inactive-interval',
    ],
  ]

  for (const [what, attack, reason] of attacks) {
    it(`refuses ${what} on every node (${reason}), counts it, and leaves the session as it was`, async () => {
      const before = await everywhere()
      const counts = await Promise.all(nodes.map(refused))
      await attack()
      assert.deepEqual(await everywhere(), before)
      const now = await Promise.all(nodes.map(refused))
      for (const [i, c] of now.entries())
        assert.equal(c[reason], (counts[i]?.[reason] ?? 0) + 1, `${nodes[i]?.name}`)
      for (const n of nodes)
        assert.ok(
          n.process.lines.some(
            (l) =>
              l.event === 'replication-refused' &&
              l.reason === reason &&
              String(l.from).startsWith('mallory@'),
          ),
          `${n.name} logged the refusal with its sender`,
        )
    })
  }

  it('refuses a forged session that never expires, which then exists on no node', async () => {
    const forged = 'F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0.mallory'
    await toAll({
      k: 'cattery.session',
      type: 'created',
      ctx: CTX,
      session: {
        id: forged,
        creationTime: Date.now(),
        lastAccessedTime: Date.now(),
        maxInactiveInterval: -1,
        version: 1,
        attributes: [['role', 'admin']],
      },
    })
    for (const n of nodes) assert.equal((await session(n, forged)).status, 404)
  })

  it('counts refusals by reason in /metrics', async () => {
    for (const n of nodes) {
      const text = await (await fetch(`http://127.0.0.1:${n.admin}/metrics`)).text()
      assert.match(text, /cattery_replication_refused_total\{context="\/demo",reason="too-deep"\} 1/)
      assert.match(text, /cattery_replication_refused_total\{context="\/demo",reason="version"\} 2/)
    }
  })

  it('still replicates real changes afterwards, to every node', async () => {
    const cookie = `JSESSIONID=${id}`
    assert.equal(
      (await getJson(`http://127.0.0.1:${nodes[1]?.http}/demo/set?k=colour&v=plum`, cookie)).status,
      200,
    )
    await until('the change on every node', async () =>
      (await everywhere()).every((s) => s.attributes.colour?.value === 'plum'),
    )
    for (const n of nodes) assert.equal((await status(n)).ready, true)
  })
})
