import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { test } from 'node:test'
import pino from 'pino'
import { MemberResync } from '../../../node/session/member-resync.ts'
import { newMessageCounts, SESSION_MESSAGE, type SessionMessage } from '../../../node/session/messages.ts'
import type { Channel } from '../../../node/tribes/channel-types.ts'
import { createLocalMember, type Member } from '../../../node/tribes/member.ts'

const member = (name: string, ready = true): Member => ({
  ...createLocalMember({ host: '127.0.0.1', port: 1, name }),
  ready,
})

/**
 * A MemberResync over a view the test decides; each fetch waits until the test ends it
 * (`fetches[i].end(reason?)`), one at a time as StateTransfer queues them.
 */
function setup(view: Member[], cooldownMs = 60_000) {
  const sends: Array<{ to: string; m: SessionMessage }> = []
  const channel = Object.assign(new EventEmitter(), {
    members: () => view,
    send: async (to: Member, m: SessionMessage) => void sends.push({ to: to.name, m }),
  }) as unknown as Channel & EventEmitter
  const fetches: Array<{ from: string; end: (reason?: string) => void }> = []
  let queue: Promise<void> = Promise.resolve()
  let stopped = false
  const sent = newMessageCounts()
  const counters = { resyncs: 0 }
  const resync = new MemberResync({
    channel,
    contextPath: '/app',
    logger: pino({ level: 'silent' }),
    sent,
    cooldownMs,
    counters,
    fetchFrom: (m) => new Promise((end) => fetches.push({ from: m.name, end })),
    exclusive: (task) => {
      const run = queue.then(task)
      queue = run.catch(() => undefined)
      return run
    },
    stopped: () => stopped,
  })
  const settled = () => queue
  const stop = () => {
    stopped = true
    resync.stop()
  }
  return { resync, channel, sends, fetches, sent, counters, settled, stop }
}

const turn = () => new Promise(setImmediate)

test('at most one re-sync per member is queued or running; re-syncs from different members run one after the other', async () => {
  const [a, b] = [member('a'), member('b')]
  const r = setup([a, b])
  assert.equal(r.resync.resync(a, 'held'), true)
  assert.equal(r.resync.resync(a, 'held again'), true, 'already queued: counts as one')
  assert.equal(r.resync.resync(b, 'held'), true)
  assert.equal(r.resync.pending, true)
  await turn()
  assert.deepEqual(
    r.fetches.map((f) => f.from),
    ['a'],
    'b waits for a',
  )
  r.fetches[0]?.end()
  await turn()
  assert.deepEqual(
    r.fetches.map((f) => f.from),
    ['a', 'b'],
  )
  r.fetches[1]?.end('the donor left')
  await r.settled()
  assert.equal(r.resync.pending, false)
  assert.equal(r.counters.resyncs, 2, 'a failed re-sync counts too')
})

test('a re-sync for held changes is not repeated within the cooldown; one for a rejoin is', async () => {
  const a = member('a')
  const r = setup([a])
  r.resync.resync(a, 'held')
  await turn()
  r.fetches[0]?.end()
  await r.settled()
  assert.equal(r.resync.resync(a, 'held'), false)
  assert.equal(r.resync.resync(a, 'rejoined', false), true)
  await turn()
  assert.equal(r.fetches.length, 2)
  r.fetches[1]?.end()
  await r.settled()
})

test('no re-sync from a member that is not in the view, not ready, or once stopped', () => {
  const [a, notReady, gone] = [member('a'), member('n', false), member('g')]
  const r = setup([a, notReady])
  assert.equal(r.resync.resync(gone, 'held'), false)
  assert.equal(r.resync.resync(notReady, 'held'), false)
  r.stop()
  assert.equal(r.resync.resync(a, 'held'), false)
  assert.equal(r.resync.pending, false)
})

test('a member that comes back after a gap is re-synced from and asked to re-sync; one seen for the first time is not', async () => {
  const [a, b] = [member('a'), member('b')]
  const r = setup([a, b])
  r.resync.watchRejoins()
  r.channel.emit('memberAdded', b) // new, not a return
  r.channel.emit('memberDisappeared', a)
  r.channel.emit('memberAdded', a)
  await turn()
  assert.deepEqual(
    r.fetches.map((f) => f.from),
    ['a'],
  )
  assert.deepEqual(r.sends, [{ to: 'a', m: { k: SESSION_MESSAGE, type: 'resync-request', ctx: '/app' } }])
  assert.equal(r.sent['resync-request'], 1)
  r.fetches[0]?.end()
  await r.settled()
  // Once stopped, the view is no longer watched.
  r.stop()
  r.channel.emit('memberDisappeared', a)
  r.channel.emit('memberAdded', a)
  await turn()
  assert.equal(r.fetches.length, 1)
  assert.equal(r.sends.length, 1)
})
