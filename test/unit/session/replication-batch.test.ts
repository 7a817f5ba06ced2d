import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { SESSION_MESSAGE, type SessionMessage } from '../../../node/session/messages.ts'
import {
  MAX_BATCH_BYTES,
  MAX_BATCH_MESSAGES,
  ReplicationBatch,
} from '../../../node/session/replication-batch.ts'
import { decode } from '../../../node/tribes/codec.ts'

const delta = (v: number, value: unknown = v): SessionMessage => ({
  k: SESSION_MESSAGE,
  type: 'delta',
  ctx: '/app',
  id: 'S1',
  v,
  a: 0,
  actions: [['set', 'n', value]],
})

/** What the batch sent, in order: each message, whether it went alone or inside a batch. */
function recorder(interval = 0) {
  const sent: Array<{ alone: boolean; messages: SessionMessage[] }> = []
  const batch = new ReplicationBatch(
    '/app',
    {
      send: (m) => sent.push({ alone: true, messages: [m] }),
      sendEncoded: (body) => {
        const b = decode(body) as SessionMessage & { type: 'batch' }
        assert.equal(b.type, 'batch')
        assert.equal(b.ctx, '/app')
        sent.push({ alone: false, messages: b.messages as SessionMessage[] })
      },
    },
    interval,
  )
  const versions = () => sent.flatMap((s) => s.messages.map((m) => (m as { v: number }).v))
  return { batch, sent, versions }
}

test('the messages of one event-loop turn go out together, in order, at the end of the turn', async () => {
  const { batch, sent, versions } = recorder()
  for (let v = 1; v <= 5; v++) batch.add(delta(v))
  assert.equal(sent.length, 0, 'nothing is sent before the turn ends')
  await nextTurn()
  assert.equal(sent.length, 1)
  assert.equal(sent[0]?.alone, false)
  assert.deepEqual(versions(), [1, 2, 3, 4, 5])
})

test('a lone message goes as it is, without a batch around it', async () => {
  const { batch, sent } = recorder()
  batch.add(delta(1))
  await nextTurn()
  assert.deepEqual(sent, [{ alone: true, messages: [delta(1)] }])
})

test('the message that fills the batch sends it at once', () => {
  const { batch, sent, versions } = recorder()
  for (let v = 1; v <= MAX_BATCH_MESSAGES; v++) batch.add(delta(v))
  assert.equal(sent.length, 1)
  assert.equal(versions().length, MAX_BATCH_MESSAGES)
  assert.equal(batch.pending, 0)
})

test('a batch over the byte bound is split until it fits, and a message over it goes alone; order holds', async () => {
  const { batch, sent, versions } = recorder()
  const big = 'x'.repeat(MAX_BATCH_BYTES / 3)
  batch.add(delta(1, big))
  batch.add(delta(2, big))
  batch.add(delta(3, 'x'.repeat(MAX_BATCH_BYTES + 1)))
  batch.add(delta(4, big))
  batch.add(delta(5))
  await nextTurn()
  assert.deepEqual(versions(), [1, 2, 3, 4, 5])
  for (const s of sent) {
    if (!s.alone) assert.ok(s.messages.length > 1)
  }
  const three = sent.find((s) => s.messages.some((m) => (m as { v: number }).v === 3))
  assert.equal(three?.alone, true, 'the oversized message travels alone')
})

test('a message that cannot be encoded goes alone (for the channel to refuse) and the others still go', async () => {
  const { batch, sent, versions } = recorder()
  batch.add(delta(1))
  batch.add(
    delta(2, {
      get broken() {
        throw new Error('unreadable')
      },
    }),
  )
  batch.add(delta(3))
  await nextTurn()
  assert.deepEqual(versions(), [1, 2, 3])
  assert.equal(sent.find((s) => s.messages.some((m) => (m as { v: number }).v === 2))?.alone, true)
})

test('flush sends what waits at once (before a stop)', () => {
  const { batch, sent } = recorder()
  batch.add(delta(1))
  batch.add(delta(2))
  batch.flush()
  assert.equal(sent.length, 1)
  batch.flush()
  assert.equal(sent.length, 1, 'nothing more to send')
})

test('with an interval, the first batch after a quiet spell leaves at the end of its turn and the next ones wait for the interval', async () => {
  const { batch, sent, versions } = recorder(50)
  batch.add(delta(1))
  await nextTurn()
  assert.deepEqual(versions(), [1], 'the first one does not wait')
  batch.add(delta(2))
  batch.add(delta(3))
  await nextTurn()
  assert.equal(sent.length, 1, 'the next ones wait for the interval')
  await new Promise((r) => setTimeout(r, 60))
  assert.deepEqual(versions(), [1, 2, 3])
  assert.equal(sent.length, 2, 'and leave together')
})

test('inside a batch a message keeps every field but k and ctx, in its order', async () => {
  const { batch, sent } = recorder()
  const full: SessionMessage = {
    k: SESSION_MESSAGE,
    type: 'delta',
    ctx: '/app',
    id: 'S1',
    v: 2,
    w: 'aa',
    b: 'bb',
    a: 5,
    actions: [['set', 'n', 1]],
  }
  const accessed: SessionMessage = { k: SESSION_MESSAGE, type: 'accessed', ctx: '/app', id: 'S2', a: 7 }
  batch.add(full)
  batch.add(delta(3))
  batch.add(accessed)
  await nextTurn()
  const inner = sent[0]?.messages as unknown as Array<Record<string, unknown>>
  const without = (m: SessionMessage) =>
    Object.fromEntries(Object.entries(m).filter(([key]) => key !== 'k' && key !== 'ctx'))
  assert.deepEqual(inner, [without(full), without(delta(3)), without(accessed)])
  assert.deepEqual(Object.keys(inner[0] ?? {}), ['type', 'id', 'v', 'w', 'b', 'a', 'actions'])
})
