/**
 * Replicated data obeys the limits of local writes (issue 12, part 3): a hostile member that speaks
 * the wire format sends two real nodes an oversized attribute, a value nested 3,000 deep, a version
 * jump, a future access time, a never-expiring session and a take-over of a session by version.
 * Each is refused on every node, counted by reason in /status and /metrics, logged with the sender,
 * and the sessions read back from every node are as they were; the cluster still replicates.
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Logger } from 'pino'
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

/** The third listed member of `plan`, started as the attacker: a channel that speaks the wire format. */
async function startMallory(plan: { receivers: number[] }, logger: Logger): Promise<Channel> {
  const mallory = createChannel({
    name: 'mallory',
    logger,
    membership: {
      type: 'static',
      members: plan.receivers.map((p) => `127.0.0.1:${p}`),
      pingInterval: 500,
      expireTime: 3000,
    },
    receiver: { host: '127.0.0.1', port: plan.receivers[2] as number, autoBind: 1 },
  })
  await mallory.start()
  return mallory
}

describe('replicated data from a hostile member is checked like local writes', () => {
  let nodes: HttpNode[] = []
  let mallory: Channel
  const logs = memoryLogger('warn')
  let id = ''

  before(async () => {
    const plan = await planCluster(3, ['--admin-show-session-values'])
    nodes = [await startHttpNode(plan, 0), await startHttpNode(plan, 1)]
    await Promise.all(nodes.map((n) => started(n)))
    mallory = await startMallory(plan, logs.logger)
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

  it('refuses a forged backup push of the session at version 2^53-1 on every node: the session keeps its value and later changes still apply everywhere', async () => {
    const before = await everywhere()
    const counts = await Promise.all(nodes.map(refused))
    const at = Date.now()
    // As anti-entropy pushes a copy, naming the session's real writer.
    const push = toAll({
      k: 'cattery.session',
      type: 'backup',
      ctx: CTX,
      sessions: [
        {
          id,
          creationTime: at,
          lastAccessedTime: at,
          maxInactiveInterval: 1800,
          version: 2 ** 53 - 1,
          writer: before[0].writer,
          attributes: [['colour', 'mallory']],
        },
      ],
    })
    await assert.rejects(push, 'no node confirms the pushed copy')
    assert.deepEqual(await everywhere(), before)
    for (const [i, c] of (await Promise.all(nodes.map(refused))).entries())
      assert.equal(c.version, (counts[i]?.version ?? 0) + 1, `${nodes[i]?.name}`)
    for (const n of nodes)
      assert.ok(
        n.process.lines.some(
          (l) =>
            l.event === 'replication-refused' &&
            l.type === 'backup' &&
            l.reason === 'version' &&
            String(l.from).startsWith('mallory@'),
        ),
        `${n.name} logged the refusal with its sender`,
      )
    // The copy each node asked for afterwards did not bring the forged version either.
    await new Promise((r) => setTimeout(r, 500))
    assert.deepEqual(await everywhere(), before)
    const cookie = `JSESSIONID=${id}`
    assert.equal(
      (await getJson(`http://127.0.0.1:${nodes[0]?.http}/demo/set?k=colour&v=sage`, cookie)).status,
      200,
    )
    await until('the next change on every node', async () =>
      (await everywhere()).every(
        (s) => s.attributes.colour?.value === 'sage' && s.version === before[0].version + 1,
      ),
    )
  })
})

describe('with the BackupManager (k=2: the session on both nodes), an oversized attribute is refused', () => {
  let nodes: HttpNode[] = []
  let mallory: Channel
  const logs = memoryLogger('warn')
  let id = ''
  let cookie = ''

  before(async () => {
    const config = path.join(os.tmpdir(), `cattery-backup-limits-${process.pid}.yaml`)
    writeFileSync(config, 'session:\n  maxAttributeSize: 1024\n')
    const plan = await planCluster(3, [
      '--admin-show-session-values',
      '--manager',
      'backup',
      '--backups',
      '2',
      '--config',
      config,
    ])
    nodes = [await startHttpNode(plan, 0), await startHttpNode(plan, 1)]
    await Promise.all(nodes.map((n) => started(n, 60_000)))
    mallory = await startMallory(plan, logs.logger)
    await until('every node to see mallory', async () =>
      (await Promise.all(nodes.map(status))).every((s) => s.members.length === 2),
    )
    const r = await getJson(`http://127.0.0.1:${nodes[0]?.http}/demo/set?k=colour&v=teal`)
    id = r.body.sessionId
    cookie = `JSESSIONID=${id}`
    await until('the session on both nodes', async () =>
      (await Promise.all(nodes.map((n) => session(n)))).every(
        (s) => s.status === 200 && s.body.attributes.colour?.value === 'teal',
      ),
    )
  })
  after(async () => {
    await mallory?.stop()
    await Promise.all(nodes.map((n) => n.process.stop('SIGKILL')))
  })

  const session = (n: HttpNode) => getJson(`http://127.0.0.1:${n.admin}/sessions/${id}?context=${CTX}`)
  /** The session's state on each node: its rank and attributes (a refused request still touches it). */
  const everywhere = async () =>
    Promise.all(
      nodes.map(async (n) => {
        const { version, writer, attributes } = (await session(n)).body
        return { version, writer, attributes }
      }),
    )

  it('set on a node: HTTP 413 with CATTERY_ERR_SESSION_ATTRIBUTE_TOO_LARGE, and the session keeps its value on both nodes', async () => {
    const before = await everywhere()
    for (const n of nodes) {
      const big = await getJson(`http://127.0.0.1:${n.http}/demo/set?k=colour&v=${'x'.repeat(2000)}`, cookie)
      assert.equal(big.status, 413, n.name)
      assert.equal(big.body.code, 'CATTERY_ERR_SESSION_ATTRIBUTE_TOO_LARGE', n.name)
    }
    assert.deepEqual(await everywhere(), before)
  })

  it('replicated by a hostile member: refused on both nodes (attribute-too-large), counted, logged with its sender, the session as it was', async () => {
    const before = await everywhere()
    const version = before[0]?.version as number
    const counts = await Promise.all(nodes.map(async (n) => (await status(n)).contexts[0].stats.refused))
    await mallory.send(
      mallory.members(),
      {
        k: 'cattery.session',
        type: 'delta',
        ctx: CTX,
        id,
        v: version + 1,
        a: Date.now(),
        actions: [['set', 'colour', 'x'.repeat(2000)]],
      },
      SYNC,
    )
    assert.deepEqual(await everywhere(), before)
    for (const [i, n] of nodes.entries()) {
      const now = (await status(n)).contexts[0].stats.refused as Record<string, number>
      assert.equal(now['attribute-too-large'], (counts[i]?.['attribute-too-large'] ?? 0) + 1, n.name)
      assert.ok(
        n.process.lines.some(
          (l) =>
            l.event === 'replication-refused' &&
            l.reason === 'attribute-too-large' &&
            String(l.from).startsWith('mallory@'),
        ),
        `${n.name} logged the refusal with its sender`,
      )
    }
  })
})
