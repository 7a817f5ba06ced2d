/**
 * A read-only request tells the other members now and then that its session was used (Tomcat's
 * accessed message), so it does not expire there. With synchronous send options the request must not
 * wait for that message: a read on a member whose peer just died would wait for the failure detector.
 * A change or an access received from another member reached every holder: a read just after it
 * has nothing to tell them (behind a balancer that does not stick, reads follow others' writes).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { SESSION_MESSAGE } from '../../../node/session/messages.ts'
import { writerOf } from '../../../node/session/rank.ts'
import type { Member } from '../../../node/tribes/member.ts'
import { peer, replicatedManager, sessionData, viewChannel } from '../../helpers/managers.ts'

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

test('a read just after a change from another member sends no accessed message; one past the interval since then does', async () => {
  const n2: Member = peer('n2')
  const net = viewChannel([n2])
  const m = replicatedManager('delta', net.channel)
  await m.start()
  try {
    const w = writerOf(n2)
    const now = Date.now()
    const base = { k: SESSION_MESSAGE, ctx: '/app' } as const
    const session = sessionData('S1.n2', { writer: w })
    m.receive({ ...base, type: 'created', session }, n2)
    const copy = m.peekSession('S1.n2')
    assert.ok(copy)
    copy.lastReplicated = now - 61_000 // created long ago: only the change below is recent news
    m.receive({ ...base, type: 'delta', id: 'S1.n2', v: 2, w, b: w, a: now, actions: [['set', 'n', 1]] }, n2)
    const accessed = () => net.sent.filter((s) => s.message.type === 'accessed').length
    const read = await m.findSession('S1.n2')
    assert.equal(read?.get('n'), 1, 'the change applied')
    await m.requestCompleted(read, true)
    await nextTurn()
    assert.equal(accessed(), 0, 'n2 sent the change: it has this access time already')
    read.lastReplicated = Date.now() - 61_000 // the last news of it is older than the interval (60 s)
    const later = await m.findSession('S1.n2')
    assert.ok(later)
    await m.requestCompleted(later, true)
    await nextTurn()
    assert.equal(accessed(), 1)
  } finally {
    await m.stop()
  }
})
