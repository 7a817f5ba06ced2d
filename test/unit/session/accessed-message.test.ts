/**
 * A read-only request tells the other members now and then that its session was used (Tomcat's
 * accessed message), so it does not expire there. With synchronous send options the request must not
 * wait for that message: a read on a member whose peer just died would wait for the failure detector.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { peer, replicatedManager, viewChannel } from '../../helpers/managers.ts'

test('a read with synchronous send options sends the accessed message without waiting for its acknowledgement', async () => {
  const net = viewChannel([peer('n2')])
  const m = replicatedManager('delta', net.channel)
  await m.start()
  try {
    const session = await m.createSession()
    session.set('a', 1)
    await m.requestCompleted(session, true)
    // The peer stops answering (it died; the failure detector has not dropped it yet).
    const unanswered: unknown[] = []
    Object.assign(net.channel, {
      send: (_to: unknown, message: { type: string }) => {
        unanswered.push(message.type)
        return new Promise(() => {})
      },
    })
    session.lastReplicated = 0 // due for an accessed message
    const read = await m.findSession(session.id)
    assert.ok(read)
    assert.equal(m.requestCompleted(read, true), undefined, 'nothing for the request to wait for')
    await nextTurn() // it leaves at the end of the turn, with whatever else the turn sends
    assert.deepEqual(unanswered, ['accessed'])
  } finally {
    Object.assign(net.channel, { send: async () => {} })
    await m.stop()
  }
})
