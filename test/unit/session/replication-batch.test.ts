import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setImmediate as nextTurn } from 'node:timers/promises'
import type { DeltaAction } from '../../../node/session/delta-request.ts'
import { SESSION_MESSAGE, type SessionMessage } from '../../../node/session/messages.ts'
import {
  type Coalescing,
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

/** A delta made here (writer aa) on version v - 1, also made here: the kind a batch merges. */
type Delta = SessionMessage & { type: 'delta' }
const ours = (v: number, actions: DeltaAction[] = [['set', 'n', v]], id = 'S1'): Delta => ({
  k: SESSION_MESSAGE,
  type: 'delta',
  ctx: '/app',
  id,
  v,
  w: 'aa',
  b: 'aa',
  a: v,
  actions,
})

/**
 * What the batch sent, in order: each message, whether it went alone or inside a batch. `outcome`
 * says how a send ends (every member got it: true), by default at once and well.
 */
function recorder(
  interval = 0,
  outcome: (messages: SessionMessage[]) => Promise<boolean> = async () => true,
  coalescing: Coalescing | undefined = undefined,
) {
  const sent: Array<{ alone: boolean; messages: SessionMessage[] }> = []
  const batch = new ReplicationBatch(
    '/app',
    {
      send: (m) => {
        sent.push({ alone: true, messages: [m] })
        return outcome([m])
      },
      sendEncoded: (body, carried) => {
        const b = decode(body) as SessionMessage & { type: 'batch' }
        assert.equal(b.type, 'batch')
        assert.equal(b.ctx, '/app')
        assert.equal(carried.length, b.messages.length, 'the sender is told which messages a batch carries')
        sent.push({ alone: false, messages: b.messages as SessionMessage[] })
        return outcome([...carried])
      },
    },
    interval,
    coalescing,
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

test('awaited messages of one turn leave as one batch, and each resolves once that batch was delivered', async () => {
  const deliveries: Array<(ok: boolean) => void> = []
  const { batch, sent, versions } = recorder(0, () => new Promise((resolve) => deliveries.push(resolve)))
  const outcomes = [1, 2, 3].map((v) => batch.addAwaited(delta(v)))
  let settled = 0
  for (const o of outcomes) void o.then(() => settled++)
  await nextTurn()
  assert.equal(sent.length, 1, 'one batch for the turn')
  assert.deepEqual(versions(), [1, 2, 3])
  await nextTurn()
  assert.equal(settled, 0, 'nothing resolves before the batch is delivered')
  deliveries[0]?.(true)
  assert.deepEqual(await Promise.all(outcomes), [true, true, true])
})

test('a batch that did not reach every member resolves false for each of its messages, and the next batch starts afresh', async () => {
  let ok = false
  const { batch } = recorder(0, async () => ok)
  const failed = [batch.addAwaited(delta(1)), batch.addAwaited(delta(2))]
  assert.deepEqual(await Promise.all(failed), [false, false])
  ok = true
  assert.equal(await batch.addAwaited(delta(3)), true)
})

test('an awaited batch split for its size resolves true only when every part was delivered', async () => {
  const big = 'x'.repeat(MAX_BATCH_BYTES / 3)
  const { batch, sent } = recorder(0, async (messages) => !messages.some((m) => (m as { v: number }).v === 4))
  const outcomes = [1, 2, 3, 4].map((v) => batch.addAwaited(delta(v, big)))
  const results = await Promise.all(outcomes)
  assert.ok(sent.length > 1, 'split in parts')
  assert.deepEqual(
    results,
    [false, false, false, false],
    'the part with 4 failed: the batch did not arrive whole',
  )
})

const merging: Coalescing = { maxVersions: 1000 }
const fields = (m: SessionMessage | undefined) => {
  const d = m as SessionMessage & { type: 'delta' }
  return { id: d.id, v: d.v, p: d.p, b: d.b, w: d.w, a: d.a, actions: d.actions }
}

test('consecutive deltas of one session made here leave as one delta from the first base to the last version, the later set winning', async () => {
  const { batch, sent } = recorder(0, undefined, merging)
  for (let v = 2; v <= 6; v++) batch.add(ours(v))
  await nextTurn()
  assert.equal(sent.length, 1)
  assert.equal(sent[0]?.alone, true, 'one message left: no batch around it')
  assert.deepEqual(fields(sent[0]?.messages[0]), {
    id: 'S1',
    v: 6,
    p: 1,
    b: 'aa',
    w: 'aa',
    a: 6,
    actions: [['set', 'n', 6]],
  })
})

test('merged actions are recorded as one request records them: the last per attribute', async () => {
  const { batch, sent } = recorder(0, undefined, merging)
  batch.add(
    ours(2, [
      ['set', 'x', 1],
      ['set', 'y', 1],
    ]),
  )
  batch.add(
    ours(3, [
      ['remove', 'x'],
      ['maxInactive', 60],
    ]),
  )
  await nextTurn()
  assert.deepEqual(fields(sent[0]?.messages[0]).actions, [
    ['remove', 'x'],
    ['set', 'y', 1],
    ['maxInactive', 60],
  ])
})

test('without coalescing (recordAllActions) every delta leaves as it was made', async () => {
  const { batch, versions } = recorder()
  for (let v = 2; v <= 4; v++) batch.add(ours(v))
  await nextTurn()
  assert.deepEqual(versions(), [2, 3, 4])
})

test('deltas of other sessions between them do not stop a merge, and every session keeps its place in the batch', async () => {
  const { batch, sent } = recorder(0, undefined, merging)
  batch.add(ours(2))
  batch.add(ours(7, undefined, 'S2'))
  batch.add(ours(3))
  batch.add(ours(8, undefined, 'S2'))
  await nextTurn()
  assert.deepEqual(
    sent[0]?.messages.map((m) => [fields(m).id, fields(m).p, fields(m).v]),
    [
      ['S1', 1, 3],
      ['S2', 6, 8],
    ],
  )
})

test('no merge across another message about the session, with a delta that does not follow, or past maxVersions', async () => {
  const accessed: SessionMessage = { k: SESSION_MESSAGE, type: 'accessed', ctx: '/app', id: 'S1', a: 9 }
  const cases: Array<[string, SessionMessage[], Coalescing, Array<[number | undefined, number]>]> = [
    [
      'an access between them',
      [ours(2), accessed, ours(3)],
      merging,
      [
        [undefined, 2],
        [undefined, 9],
        [undefined, 3],
      ],
    ],
    [
      'a gap in the versions',
      [ours(2), ours(4)],
      merging,
      [
        [undefined, 2],
        [undefined, 4],
      ],
    ],
    [
      'a change made on another branch',
      [ours(2), { ...ours(3), b: 'cc' }],
      merging,
      [
        [undefined, 2],
        [undefined, 3],
      ],
    ],
    [
      'the span bound',
      [ours(2), ours(3), ours(4), ours(5)],
      { maxVersions: 2 },
      [
        [1, 3],
        [3, 5],
      ],
    ],
  ]
  for (const [what, messages, coalescing, want] of cases) {
    const { batch, sent } = recorder(0, undefined, coalescing)
    for (const m of messages) batch.add(m)
    await nextTurn()
    const got = sent
      .flatMap((x) => x.messages)
      .map((m) => {
        const d = m as { p?: number; v?: number; a: number }
        return [d.p, d.v ?? d.a]
      })
    assert.deepEqual(got, want, what)
  }
})

test('awaited deltas merged into one resolve together with their batch', async () => {
  const { batch, sent } = recorder(0, undefined, merging)
  const outcomes = [2, 3, 4].map((v) => batch.addAwaited(ours(v)))
  assert.deepEqual(await Promise.all(outcomes), [true, true, true])
  assert.equal(sent.length, 1)
  assert.deepEqual([fields(sent[0]?.messages[0]).p, fields(sent[0]?.messages[0]).v], [1, 4])
})
