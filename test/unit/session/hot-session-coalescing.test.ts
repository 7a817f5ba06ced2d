/**
 * A session that many requests write at once (a burst of calls of one page, two tabs): the changes
 * that wait in one replication batch leave as one merged change (replication-batch.ts), and a member
 * that receives it holds the state the last request left.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setImmediate as nextTurn } from 'node:timers/promises'
import type { ManagerMessage } from '../../../node/session/cluster-manager.ts'
import { peer, replicatedManager, viewChannel } from '../../helpers/managers.ts'

test('the changes of one session made in one turn reach another member as one change, which leaves it in the last request state', async () => {
  const net = viewChannel([peer('n2')])
  const writer = replicatedManager('delta', net.channel, { antiEntropyInterval: 0 })
  const other = viewChannel([peer('n1')])
  const reader = replicatedManager('delta', other.channel, { antiEntropyInterval: 0 })
  await writer.start()
  await reader.start()
  try {
    const s = writer.createSession()
    await nextTurn()
    const [created] = net.sent.splice(0)
    reader.receive(created?.message as unknown as ManagerMessage, peer('n1'))
    const requests = [1, 2, 3, 4, 5].map((n) => {
      s.set('cart', n)
      if (n === 3) s.set('coupon', 'x')
      return writer.requestCompleted(s, true)
    })
    await Promise.all(requests)
    assert.equal(net.sent.length, 1, 'one message for the five requests')
    const change = net.sent[0]?.message as { type: string; p: number; v: number; actions: unknown[] }
    assert.deepEqual(
      [change.type, change.p, change.v],
      ['delta', s.version - 5, s.version],
      'it builds on the version before the first request and makes the last one',
    )
    assert.deepEqual(change.actions, [
      ['set', 'cart', 5],
      ['set', 'coupon', 'x'],
    ])
    reader.receive(change as unknown as ManagerMessage, peer('n1'))
    const copy = reader.peekSession(s.id)
    assert.deepEqual(
      [copy?.version, copy?.get('cart'), copy?.get('coupon')],
      [s.version, 5, 'x'],
      'the other member holds the last state',
    )
  } finally {
    await writer.stop()
    await reader.stop()
  }
})

test('with recordAllActions every request of the session leaves as its own change', async () => {
  const net = viewChannel([peer('n2')])
  const writer = replicatedManager('delta', net.channel, { antiEntropyInterval: 0, recordAllActions: true })
  await writer.start()
  try {
    const s = writer.createSession()
    await nextTurn()
    net.sent.splice(0)
    const requests = [1, 2, 3].map((n) => {
      s.set('cart', n)
      return writer.requestCompleted(s, true)
    })
    await Promise.all(requests)
    assert.deepEqual(
      net.sent.map((x) => [x.message.type, x.message.p, x.message.actions]),
      [1, 2, 3].map((n) => ['delta', undefined, [['set', 'cart', n]]]),
    )
  } finally {
    await writer.stop()
  }
})
