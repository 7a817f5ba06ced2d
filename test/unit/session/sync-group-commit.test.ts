/**
 * Synchronous send options (6): the changes that requests of one event-loop turn make leave as one
 * batch (one frame and one ACK per member), and each request still waits until that batch was
 * delivered, as the send options ask (replication-batch.ts, a group commit).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { decode } from '../../../node/tribes/codec.ts'
import type { Member } from '../../../node/tribes/member.ts'
import { peer, replicatedManager, viewChannel } from '../../helpers/managers.ts'

test('with synchronous send options the changes of one turn leave as one batch, and each request waits until it was delivered', async () => {
  const net = viewChannel([peer('n2'), peer('n3')])
  const m = replicatedManager('delta', net.channel)
  await m.start()
  const sessions = [m.createSession(), m.createSession(), m.createSession()]
  await nextTurn() // their creation leaves first
  const batches: Array<{ to: Member[]; types: string[]; deliver: () => void }> = []
  Object.assign(net.channel, {
    sendEncoded: (to: Member[], body: Uint8Array) =>
      new Promise<void>((deliver) => {
        const b = decode(body) as { type: string; messages: Array<{ type: string }> }
        batches.push({ to, types: b.messages.map((x) => x.type), deliver })
      }),
  })
  try {
    let done = 0
    const requests = sessions.map((s, i) => {
      s.set('n', i)
      return m.requestCompleted(s, true)?.then(() => done++)
    })
    assert.ok(
      requests.every((r) => r !== undefined),
      'every request has its replication to wait for',
    )
    await nextTurn()
    assert.equal(batches.length, 1, 'one batch for the three requests')
    assert.deepEqual(batches[0]?.types, ['delta', 'delta', 'delta'])
    assert.deepEqual(batches[0]?.to.map((x) => x.name).sort(), ['n2', 'n3'], 'to every member')
    await nextTurn()
    assert.equal(done, 0, 'no request is done before the batch was delivered')
    batches[0]?.deliver()
    await Promise.all(requests)
    assert.equal(done, 3)
  } finally {
    Object.assign(net.channel, { sendEncoded: async () => {} })
    await m.stop()
  }
})
