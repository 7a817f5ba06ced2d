import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { test } from 'node:test'
import pino from 'pino'
import { newMessageCounts, SESSION_MESSAGE, type SessionMessage } from '../../../node/session/messages.ts'
import type { Rank } from '../../../node/session/rank.ts'
import { writerOf } from '../../../node/session/rank.ts'
import type { SessionData } from '../../../node/session/session.ts'
import { SessionFetch } from '../../../node/session/session-fetch.ts'
import type { Channel } from '../../../node/tribes/channel-types.ts'
import { createLocalMember, type Member } from '../../../node/tribes/member.ts'

const a = createLocalMember({ host: '127.0.0.1', port: 1, name: 'a' })
const b = createLocalMember({ host: '127.0.0.1', port: 2, name: 'b' })

function fetcher(o: { held?: Rank; maxOutstanding?: number; maxAnswering?: number; failTo?: Member } = {}) {
  const sent: Array<{ to: string; m: SessionMessage }> = []
  const gaveUp: string[] = []
  let release = () => {}
  const channel = Object.assign(new EventEmitter(), {
    members: () => [a, b],
    send: (to: Member, m: SessionMessage) => {
      sent.push({ to: to.name, m })
      if (to === o.failTo) return Promise.reject(new Error('connection refused'))
      return m.type === 'session-copy' ? new Promise<void>((r) => (release = r)) : Promise.resolve()
    },
  }) as unknown as Channel
  const data = { id: 'S1.a', version: o.held?.version ?? 0, writer: o.held?.writer ?? '' } as SessionData
  const f = new SessionFetch({
    channel,
    contextPath: '/app',
    logger: pino({ level: 'silent' }),
    sent: newMessageCounts(),
    copyOf: () => (o.held ? { ...o.held, toData: () => data } : undefined),
    gaveUp: (key) => gaveUp.push(key),
    ...(o.maxOutstanding ? { maxOutstanding: o.maxOutstanding } : {}),
    ...(o.maxAnswering ? { maxAnswering: o.maxAnswering } : {}),
  })
  return { f, sent, gaveUp, channel, release: () => release() }
}

const copy = (session?: SessionData): SessionMessage & { type: 'session-copy' } => ({
  k: SESSION_MESSAGE,
  type: 'session-copy',
  ctx: '/app',
  id: 'S1.a',
  ...(session ? { session } : {}),
})

test('asks the writer named by the rank when it is in the view, else every member; one request per session at a time', () => {
  const { f, sent } = fetcher()
  assert.equal(f.request('S1.a', { version: 3, writer: writerOf(b) }), true)
  assert.equal(
    f.request('S1.b', { version: 3, writer: writerOf(b) }),
    true,
    'the same session: not asked again',
  )
  assert.deepEqual(
    sent.map((s) => s.to),
    ['b'],
  )
  f.request('S2.a', { version: 3, writer: 'ff' })
  assert.deepEqual(
    sent.map((s) => s.to),
    ['b', 'a', 'b'],
  )
})

test('takes only a copy it asked for, from a member it asked', () => {
  const { f } = fetcher()
  const session = { id: 'S1.a', version: 3 } as SessionData
  assert.equal(f.answered(copy(session), b), undefined, 'not asked')
  f.request('S1.a', { version: 3, writer: writerOf(b) })
  assert.equal(f.answered(copy(session), a), undefined, 'asked of another member')
  assert.equal(f.answered(copy(session), b), session)
  assert.equal(f.pending('S1.a'), false)
  assert.equal(f.counters.copiesUnasked, 2)
})

test('gives up when every member asked has nothing that new, cannot be reached, or left', () => {
  const { f, gaveUp, channel } = fetcher({ failTo: a })
  f.request('S1.a', { version: 3, writer: 'ff' }) // both asked; a cannot be reached
  f.answered(copy(), b)
  return new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
    assert.deepEqual(gaveUp, ['S1'])
    f.request('S2.a', { version: 3, writer: writerOf(b) })
    channel.emit('memberDisappeared', b)
    assert.deepEqual(gaveUp, ['S1', 'S2'])
  })
})

test('answers with its copy only when it ranks at least as asked', () => {
  const low = fetcher({ held: { version: 2, writer: 'ff' } })
  low.f.answer({ k: SESSION_MESSAGE, type: 'session-request', ctx: '/app', id: 'S1.a', v: 3, w: 'aa' }, a)
  assert.equal((low.sent[0] as { m: { session?: unknown } }).m.session, undefined)
  const high = fetcher({ held: { version: 3, writer: 'bb' } })
  high.f.answer({ k: SESSION_MESSAGE, type: 'session-request', ctx: '/app', id: 'S1.a', v: 3, w: 'aa' }, a)
  assert.equal((high.sent[0] as { m: { session?: SessionData } }).m.session?.version, 3)
})

test('bounds: requests outstanding and answers being sent', () => {
  const { f } = fetcher({ maxOutstanding: 1, maxAnswering: 1, held: { version: 3, writer: 'bb' } })
  assert.equal(f.request('S1.a', { version: 3, writer: writerOf(b) }), true)
  assert.equal(f.request('S2.a', { version: 3, writer: writerOf(b) }), false)
  assert.equal(f.counters.requestsRefused, 1)
  const ask = { k: SESSION_MESSAGE, type: 'session-request', ctx: '/app', id: 'S1.a', v: 1, w: 'aa' } as const
  f.answer(ask, a)
  f.answer(ask, a)
  assert.equal(f.counters.answersDropped, 1)
})
