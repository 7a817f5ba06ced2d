/**
 * A member never acknowledges a pushed copy for a context it does not serve as if it held it
 * (node/cluster/cluster.ts): a push waiting for its synchronous ACK fails, so its sender keeps the
 * copy; any other message is dropped; the membership notices of a context are acknowledged and do
 * nothing. Over real channels, BackupManager contexts then place sessions only on the members
 * that have the context (node/session/map-members.ts).
 */
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import pino from 'pino'
import { Cluster } from '../../../node/cluster/cluster.ts'
import type { BackupManager } from '../../../node/session/backup-manager.ts'
import { newMessageCounts, SESSION_MESSAGE } from '../../../node/session/messages.ts'
import { CopyPusher, PUSH_OPTIONS } from '../../../node/session/ownership-transfer.ts'
import type { SessionData } from '../../../node/session/session.ts'
import type { Channel, ChannelListener } from '../../../node/tribes/channel-types.ts'
import { type CatteryError, codes } from '../../../node/tribes/errors.ts'
import { createLocalMember } from '../../../node/tribes/member.ts'
import { SendOption } from '../../../node/tribes/send-options.ts'
import { startChannels, type TestChannel } from '../../helpers/channels.ts'
import { managerSettings, sessionData } from '../../helpers/managers.ts'

const silent = pino({ level: 'silent' })
const from = createLocalMember({ host: '127.0.0.1', port: 1, name: 'n2' })

/** A cluster on a channel with nobody in its view; `deliver` hands it a message as the channel would. */
function cluster() {
  let listener: ChannelListener | undefined
  const channel = Object.assign(new EventEmitter(), {
    localMember: createLocalMember({ host: '127.0.0.1', port: 0, name: 'n1' }),
    members: () => [],
    asyncWriteInterval: 10,
    addChannelListener: (l: ChannelListener) => {
      listener = l
    },
    send: async () => {},
    sendEncoded: async () => {},
  }) as unknown as Channel
  const c = new Cluster(channel, silent)
  const deliver = (payload: Record<string, unknown>, options: number) =>
    listener?.messageReceived({ from, options, payload: { k: SESSION_MESSAGE, ...payload } })
  return { cluster: c, deliver }
}

const copy = (id: string): SessionData => sessionData(id)

describe('a message for a context this member does not serve', () => {
  it('a pushed copy is refused when its sender waits for it to be handled: the code reaches the sender', async () => {
    const { cluster: c, deliver } = cluster()
    c.addContext('/local', managerSettings({ type: 'standard' }))
    for (const ctx of ['/none', '/local'])
      await assert.rejects(
        Promise.resolve(deliver({ type: 'backup', ctx, sessions: [copy('S1')] }, PUSH_OPTIONS)),
        (err: CatteryError) => {
          assert.equal(err.code, codes.NO_CONTEXT_MANAGER)
          assert.match(err.message, new RegExp(`context ${ctx}`))
          return true
        },
      )
    assert.deepEqual(c.unrouted, { refused: 2, dropped: 0 })
  })

  it('any other message is dropped, even a synchronous write: a DeltaManager expects no copy where the context is not', async () => {
    const { cluster: c, deliver } = cluster()
    assert.equal(deliver({ type: 'created', ctx: '/none', session: copy('S2') }, PUSH_OPTIONS), undefined)
    assert.equal(deliver({ type: 'batch', ctx: '/none', messages: [] }, PUSH_OPTIONS), undefined)
    assert.deepEqual(c.unrouted, { refused: 0, dropped: 2 })
  })

  it('is dropped when asynchronous, and a membership notice is acknowledged and does nothing', async () => {
    const { cluster: c, deliver } = cluster()
    assert.equal(
      deliver({ type: 'created', ctx: '/none', session: copy('S1') }, SendOption.ASYNCHRONOUS),
      undefined,
    )
    assert.equal(deliver({ type: 'delta', ctx: '/none', id: 'S1' }, SendOption.USE_ACK), undefined)
    assert.equal(
      deliver({ type: 'map-member', ctx: '/none', present: true, ask: true }, PUSH_OPTIONS),
      undefined,
    )
    assert.equal(deliver({ type: 'leaving', ctx: '/none' }, PUSH_OPTIONS), undefined)
    assert.deepEqual(c.unrouted, { refused: 0, dropped: 2 })
  })
})

describe('over real channels: n1 and n2 have /app (BackupManager), n3 does not', () => {
  let channels: TestChannel[] = []
  let clusters: Cluster[] = []
  before(async () => {
    channels = await startChannels(3)
    clusters = channels.map((c) => new Cluster(c.channel, silent))
    for (const c of clusters.slice(0, 2)) c.addContext('/app', managerSettings({ type: 'backup' }))
    await Promise.all(clusters.map((c) => c.start()))
  })
  after(async () => {
    await Promise.all(clusters.map((c) => c.stop()))
    await Promise.all(channels.map((c) => c.channel.stop()))
  })

  it('a copy pushed to the member without the context is not confirmed: the sender keeps it', async () => {
    const [a, , c] = channels as [TestChannel, TestChannel, TestChannel]
    const n3 = a.channel.members().find((m) => m.name === c.channel.localMember.name)
    assert.ok(n3)
    const pusher = new CopyPusher({
      channel: a.channel,
      contextPath: '/app',
      sent: newMessageCounts(),
      data: copy,
      maxCount: 100,
    })
    const confirmed = await pusher.push(n3, ['S1', 'S2'])
    assert.deepEqual([...confirmed], [], 'nothing confirmed')
    assert.deepEqual(pusher.counters, { copiesPushed: 0, pushFailures: 1 })
    assert.equal((clusters[2] as Cluster).unrouted.refused, 1)
  })

  it('each member with the context places sessions on the two of them only, and nothing reaches the third', async () => {
    const [m1, m2] = clusters.map((c) => c.managers()[0]) as [BackupManager, BackupManager]
    const placed = () => m1.stats().placement?.members === 2 && m2.stats().placement?.members === 2
    for (const end = Date.now() + 5_000; !placed() && Date.now() < end; ) await sleep(20)
    assert.ok(placed(), 'each sees the other in its map')
    const ids: string[] = []
    for (let i = 0; i < 20; i++) {
      const s = (i % 2 ? m2 : m1).createSession()
      s.set('i', i)
      await (i % 2 ? m2 : m1).requestCompleted(s, true)
      ids.push(s.id)
    }
    for (const id of ids) {
      assert.ok(m1.peekSession(id), `${id} on n1`)
      assert.ok(m2.peekSession(id), `${id} on n2`)
    }
    assert.deepEqual((clusters[2] as Cluster).unrouted, { refused: 1, dropped: 0 }, 'only the push above')
    assert.equal((channels[0] as TestChannel).channel.members().length, 2, 'n3 is in the view all along')
  })
})
