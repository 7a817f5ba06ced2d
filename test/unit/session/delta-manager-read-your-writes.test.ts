import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { test } from 'node:test'
import pino from 'pino'
import { DeltaManager } from '../../../node/session/delta-manager.ts'
import { SESSION_MESSAGE, type SessionMessage } from '../../../node/session/messages.ts'
import { writerOf } from '../../../node/session/rank.ts'
import type { Channel } from '../../../node/tribes/channel-types.ts'
import { createLocalMember, type Member } from '../../../node/tribes/member.ts'
import { managerSettings, sessionData } from '../../helpers/managers.ts'

const ASYNC_WRITE_INTERVAL = 10
const writer = createLocalMember({ host: '127.0.0.1', port: 2, name: 'n2' })

/** A manager whose only peer is `writer` (already ready: it holds the sessions). */
async function manager(view: Member[] = [writer]) {
  /** Every message sent, to whom, and when (performance.now()). */
  const sent: Array<{ to: string; m: SessionMessage; at: number }> = []
  const channel = Object.assign(new EventEmitter(), {
    localMember: createLocalMember({ host: '127.0.0.1', port: 1, name: 'n1' }),
    members: () => view,
    asyncWriteInterval: ASYNC_WRITE_INTERVAL,
    send: async (to: Member, m: SessionMessage) => void sent.push({ to: to.name, m, at: performance.now() }),
    sendEncoded: async () => {},
  }) as unknown as Channel
  const { type: _type, ...settings } = managerSettings({ readYourWritesTimeout: 300 })
  const m = new DeltaManager({ ...settings, contextPath: '/app', logger: pino({ level: 'silent' }), channel })
  // Not started (no state transfer): the replica log and the waiters work without it.
  return { m, sent }
}

const created = (id: string): SessionMessage & { type: 'created' } => ({
  k: SESSION_MESSAGE,
  type: 'created',
  ctx: '/app',
  session: sessionData(id, { writer: writerOf(writer) }),
})

test('a request waiting for its client last write goes on as soon as the change arrives', async () => {
  const { m } = await manager()
  m.receive(created('S1.n2'), writer)
  const w = writerOf(writer)
  const waiting = m.catchUp('S1.n2', { version: 2, writer: w })
  m.receive(
    {
      k: SESSION_MESSAGE,
      type: 'delta',
      ctx: '/app',
      id: 'S1.n2',
      v: 2,
      w,
      b: w,
      a: Date.now(),
      actions: [['set', 'n', 1]],
    },
    writer,
  )
  assert.equal(await waiting, 'caught-up')
  assert.equal(m.stats().readYourWrites?.caughtUp, 1)
})

test('when the change has not come after 2 × asyncWriteInterval, the copy is asked of its writer (not sooner), and its answer ends the wait', async () => {
  const { m, sent } = await manager()
  const w = writerOf(writer)
  const asked = performance.now()
  const waiting = m.catchUp('S1.n2', { version: 3, writer: w })
  // A timer never fires early but may fire late on a busy machine: wait for the request, up to well
  // under readYourWritesTimeout (300 ms), past which the wait would end anyway.
  const deadline = asked + 200
  while (sent.length === 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 2))
  assert.deepEqual(
    sent.map((s) => [s.to, s.m.type]),
    [['n2', 'session-request']],
  )
  const after = (sent[0] as { at: number }).at - asked
  // 2 × asyncWriteInterval, less 2 ms for the millisecond rounding of timers.
  assert.ok(after >= 2 * ASYNC_WRITE_INTERVAL - 2, `asked ${after.toFixed(1)} ms after the wait began`)
  const copy = { ...created('S1.n2').session, version: 3, attributes: [['n', 3]] as Array<[string, unknown]> }
  m.receive({ k: SESSION_MESSAGE, type: 'session-copy', ctx: '/app', id: 'S1.n2', session: copy }, writer)
  assert.equal(await waiting, 'caught-up')
  assert.equal(m.peekSession('S1.n2')?.get('n'), 3)
})

test('past readYourWritesTimeout the request is served what the node holds, and counted as a stale read', async () => {
  const { m } = await manager()
  m.receive(created('S1.n2'), writer)
  const started = Date.now()
  assert.equal(await m.catchUp('S1.n2', { version: 5, writer: writerOf(writer) }), 'stale')
  assert.ok(Date.now() - started >= 250)
  assert.equal(m.stats().readYourWrites?.staleReads, 1)
})

test('a writer no longer in the view and nobody else to ask: served at once, not after the bound', async () => {
  const { m } = await manager([])
  const started = Date.now()
  assert.equal(await m.catchUp('S1.n2', { version: 5, writer: writerOf(writer) }), 'stale')
  assert.ok(Date.now() - started < 100)
})

test('a session known to be gone is not waited for', async () => {
  const { m } = await manager()
  m.receive(created('S1.n2'), writer)
  m.receive({ k: SESSION_MESSAGE, type: 'expired', ctx: '/app', id: 'S1.n2' }, writer)
  assert.equal(await m.catchUp('S1.n2', { version: 5, writer: writerOf(writer) }), 'gone')
})
