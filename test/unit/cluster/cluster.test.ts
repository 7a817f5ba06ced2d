import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { test } from 'node:test'
import pino from 'pino'
import { Cluster } from '../../../node/cluster/cluster.ts'
import type { ManagerSettings } from '../../../node/session/managers.ts'
import { SESSION_MESSAGE, type SessionMessage } from '../../../node/session/messages.ts'
import type { Channel, ChannelListener } from '../../../node/tribes/channel-types.ts'
import { createLocalMember, type Member } from '../../../node/tribes/member.ts'
import { managerSettings } from '../../helpers/managers.ts'

const joiner = createLocalMember({ host: '127.0.0.1', port: 1, name: 'j' })

/** A cluster on a channel whose view is `view`: what it sends is recorded, messages are handed in. */
function alone(view: Member[] = []) {
  let listener: ChannelListener | undefined
  const sent: Array<{ to: Member; m: SessionMessage }> = []
  const channel = Object.assign(new EventEmitter(), {
    localMember: createLocalMember({ host: '127.0.0.1', port: 0, name: 'n1' }),
    members: () => view,
    asyncWriteInterval: 10,
    addChannelListener: (l: ChannelListener) => {
      listener = l
    },
    send: async (to: Member, m: SessionMessage) => void sent.push({ to, m }),
    sendEncoded: async () => {},
  }) as unknown as Channel
  const cluster = new Cluster(channel, pino({ level: 'silent' }))
  const receive = (payload: SessionMessage) =>
    listener?.messageReceived({ from: joiner, options: 0, payload })
  return { cluster, sent, receive }
}

const settings = (type: ManagerSettings['type']): ManagerSettings => managerSettings({ type })

const getAll = (ctx: string): SessionMessage => ({ k: SESSION_MESSAGE, type: 'get-all', ctx, transfer: 7 })

test('each context gets the manager its settings name, and messages go to the manager of their context', async () => {
  const { cluster, receive } = alone()
  const delta = cluster.addContext('/app', settings('delta'))
  const standard = cluster.addContext('/local', settings('standard'))
  assert.deepEqual(
    cluster.managers().map((m) => [m.contextPath, m.kind, m.distributable]),
    [
      ['/app', 'delta', true],
      ['/local', 'standard', false],
    ],
  )
  await cluster.start()
  assert.equal(cluster.ready, true)
  const data = { id: 'S1.n2', creationTime: 1, lastAccessedTime: 1, maxInactiveInterval: 1800 }
  const session = { ...data, principal: undefined, authType: undefined, version: 1, attributes: [] }
  for (const ctx of ['/app', '/local', '/none'])
    await receive({ k: SESSION_MESSAGE, type: 'created', ctx, session: { ...session } })
  assert.ok(delta.peekSession('S1.n2'), 'the delta context holds the replicated session')
  assert.equal(standard.peekSession('S1.n2'), undefined, 'a standard context ignores replication')
  assert.equal(delta.messageCounts().received.created, 1)
  assert.deepEqual(standard.messageCounts(), { sent: {}, received: {} })
  await cluster.stop()
})

test('a joiner asking for the state of a context this node does not replicate, or does not have, is told so', async () => {
  const { cluster, sent, receive } = alone([joiner]) // a donor waits for the joiner to be in its view
  cluster.addContext('/app', settings('delta'))
  cluster.addContext('/local', settings('standard'))
  await cluster.start()
  for (const ctx of ['/app', '/local', '/none']) await receive(getAll(ctx))
  assert.deepEqual(
    sent.map(({ to, m }) => [to.name, m.ctx, m.type]),
    [
      ['j', '/app', 'transfer-complete'],
      ['j', '/local', 'no-context-manager'],
      ['j', '/none', 'no-context-manager'],
    ],
  )
  await cluster.stop()
})
