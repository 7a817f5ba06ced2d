/**
 * A change of session id under the BackupManager's placement (node/session/renamed-copies.ts), by
 * itself, with fake placement, proxies, repair and pushes: the new id's new owners get a copy; an old
 * owner that does not own the new id hands its copy over and drops it once every new owner confirmed
 * it, and keeps it (for the next repair pass) when one did not, or when it was used meanwhile.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setImmediate as turn } from 'node:timers/promises'
import type { ManagerMessage } from '../../../node/session/cluster-manager.ts'
import { SESSION_MESSAGE } from '../../../node/session/messages.ts'
import { writerOf } from '../../../node/session/rank.ts'
import { RenamedCopies } from '../../../node/session/renamed-copies.ts'
import type { Member } from '../../../node/tribes/member.ts'
import { peer } from '../../helpers/managers.ts'

const [a, b, c] = [peer('a'), peer('b'), peer('c')]
const self = 'self'

/** Owners by key (writer ids, self included); members by writer id. */
function renamed(ownersOf: Record<string, string[]>, held: string[]) {
  const members = new Map([a, b, c].map((m) => [writerOf(m), m]))
  const owners = (key: string) => ownersOf[key] ?? []
  const log: string[] = []
  const store = new Set(held)
  const proxies = new Set<string>()
  /** Members that do not confirm pushes. */
  const refusing = new Set<Member>()
  let stopping = false
  const counters = { copiesDropped: 0 }
  const copies = new RenamedCopies({
    placement: {
      owns: (key) => owners(key).includes(self),
      owners,
      otherOwners: (key) =>
        owners(key)
          .filter((id) => id !== self)
          .map((id) => members.get(id) as Member),
    },
    proxies: { has: (key) => proxies.has(key), forget: (key) => proxies.delete(key) },
    repair: {
      unconfirm: (key) => void log.push(`unconfirm ${key}`),
      retryLater: (key, writer) => void log.push(`retry ${key} ${writer}`),
    },
    holds: (key) => store.has(key),
    drop: (key) => {
      store.delete(key)
      log.push(`drop ${key}`)
    },
    push: async (to, keys) => {
      log.push(`push ${[...keys]} ${writerOf(to)}`)
      return new Set(refusing.has(to) ? [] : keys)
    },
    noteHeld: (key) => void log.push(`held ${key}`),
    stopping: () => stopping,
    counters,
  })
  return {
    copies,
    log,
    store,
    proxies,
    refusing,
    counters,
    stop: () => {
      stopping = true
    },
  }
}

const changeId = (id: string, newId: string): ManagerMessage => ({
  k: SESSION_MESSAGE,
  type: 'change-id',
  ctx: '/app',
  id,
  newId,
  v: 2,
})

const A = writerOf(a)
const B = writerOf(b)
const C = writerOf(c)

test('changed here: the new owners that did not own the old id get a copy; the new copy is noted held', () => {
  const r = renamed({ OLD: [self, A], NEW: [B, self, A] }, ['NEW'])
  r.proxies.add('OLD')
  r.copies.changedHere('OLD', 'NEW')
  assert.deepEqual(r.log, ['unconfirm OLD', `push NEW ${B}`, 'held NEW'])
  assert.equal(r.proxies.has('OLD'), false)
})

test('applied from another member: a copy this member does not own is handed over, then dropped', async () => {
  const r = renamed({ NEW: [A, B] }, ['NEW'])
  r.copies.received(changeId('OLD', 'NEW'))
  await turn()
  assert.deepEqual(r.log, [`push NEW ${A}`, `push NEW ${B}`, 'drop NEW', 'unconfirm NEW'])
  assert.equal(r.counters.copiesDropped, 1)
})

test('an owner that did not confirm: retried by the next pass, the copy kept', async () => {
  const r = renamed({ NEW: [A, C] }, ['NEW'])
  r.refusing.add(c)
  r.copies.received(changeId('OLD', 'NEW'))
  await turn()
  assert.deepEqual(r.log, [`push NEW ${A}`, `push NEW ${C}`, `retry NEW ${C}`])
  assert.ok(r.store.has('NEW'))
  assert.equal(r.counters.copiesDropped, 0)
})

test('used here meanwhile (a proxy): kept', async () => {
  const r = renamed({ NEW: [A, B] }, ['NEW'])
  r.copies.received(changeId('OLD', 'NEW'))
  r.proxies.add('NEW')
  await turn()
  assert.ok(r.store.has('NEW'))
  assert.equal(r.counters.copiesDropped, 0)
})

test('batched id changes are handed over too', async () => {
  const r = renamed({ N1: [A, B], N2: [A, self] }, ['N1', 'N2'])
  const batch: ManagerMessage = {
    k: SESSION_MESSAGE,
    type: 'batch',
    ctx: '/app',
    messages: [changeId('O1', 'N1'), { type: 'delta' }, changeId('O2', 'N2')],
  }
  r.copies.received(batch)
  await turn()
  // N2 is owned here: kept without a push.
  assert.deepEqual(r.log, [`push N1 ${A}`, `push N1 ${B}`, 'drop N1', 'unconfirm N1'])
})

test('nothing is handed over: owned here, a proxy, not held, or stopping', async () => {
  const owned = renamed({ NEW: [self, A] }, ['NEW'])
  owned.copies.received(changeId('OLD', 'NEW'))
  const proxy = renamed({ NEW: [A, B] }, ['NEW'])
  proxy.proxies.add('NEW')
  proxy.copies.received(changeId('OLD', 'NEW'))
  const notHeld = renamed({ NEW: [A, B] }, [])
  notHeld.copies.received(changeId('OLD', 'NEW'))
  const stopping = renamed({ NEW: [A, B] }, ['NEW'])
  stopping.stop()
  stopping.copies.received(changeId('OLD', 'NEW'))
  await turn()
  for (const r of [owned, proxy, notHeld, stopping]) assert.deepEqual(r.log, [])
})
