import assert from 'node:assert/strict'
import { test } from 'node:test'
import pino from 'pino'
import { SESSION_MESSAGE } from '../../../node/session/messages.ts'
import { type Change, ReplicaLog, type ReplicaLogOptions } from '../../../node/session/replica-log.ts'
import { keyOf } from '../../../node/session/store.ts'
import { createLocalMember } from '../../../node/tribes/member.ts'

const peer = createLocalMember({ host: '127.0.0.1', port: 1, name: 'p1' })

/** A copy of a session as the log sees it: its id, rank, and the changes applied to it, in order. */
interface Copy {
  id: string
  version: number
  writer: string
  applied: string[]
}

/** A log over copies held in a Map by id without route, as a manager's store holds them. */
function replicas(options: Partial<ReplicaLogOptions<Copy>> = {}) {
  const copies = new Map<string, Copy>()
  const warnings: string[] = []
  /** Copies the log asked for: `<id> <version>.<writer> from <sender>`. */
  const fetched: string[] = []
  const log = new ReplicaLog<Copy>({
    replicas: {
      find: (id) => copies.get(keyOf(id)),
      apply: (copy, change) => {
        copy.version = change.v
        copy.writer = change.w ?? ''
        copy.applied.push(change.type === 'delta' ? `v${change.v}` : `id ${change.newId}`)
        if (change.type === 'change-id') {
          copies.delete(keyOf(change.id))
          copy.id = change.newId
          copies.set(keyOf(copy.id), copy)
        }
      },
      fetch: (id, want, from) => void fetched.push(`${id} ${want.version}.${want.writer} from ${from.name}`),
      remove: (id) => void copies.delete(keyOf(id)),
    },
    logger: pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) }),
    transferring: () => false,
    ...options,
  })
  /** A full copy arrives (creation or state transfer), installed when the log admits it. */
  const copy = (id: string, version: number, writer = '') => {
    const have = copies.get(keyOf(id))
    if (!log.admits(id, { version, writer }, have)) return false
    copies.set(keyOf(id), { id, version, writer, applied: [] })
    log.installed(id)
    return true
  }
  const applied = (id: string) => copies.get(keyOf(id))?.applied
  return { log, copies, copy, applied, warnings, fetched }
}

/** A delta to version v; with `w` and `b`, made by w on a version made by b (rank.ts). */
const delta = (id: string, v: number, w?: string, b?: string): Change => ({
  k: SESSION_MESSAGE,
  type: 'delta',
  ctx: '/app',
  id,
  v,
  ...(w === undefined ? {} : { w }),
  ...(b === undefined ? {} : { b }),
  a: 0,
  actions: [],
})
const changeId = (id: string, newId: string, v: number): Change => ({
  k: SESSION_MESSAGE,
  type: 'change-id',
  ctx: '/app',
  id,
  newId,
  v,
})

test('changes are applied in version order, whatever order they arrive in', () => {
  const r = replicas()
  r.copy('S1.a', 1)
  for (const v of [4, 2, 5, 3]) r.log.change(delta('S1.a', v), peer)
  assert.deepEqual(r.applied('S1.a'), ['v2', 'v3', 'v4', 'v5'])
  assert.equal(r.log.held, 0)
})

test('a merged delta (versions p+1 to v in one) is applied on the copy at its base, held while that base has not come, and drops what it covers', () => {
  const r = replicas()
  r.copy('S1.a', 1, 'aa')
  const merged = (v: number, p: number) => ({ ...delta('S1.a', v, 'aa', 'aa'), p }) as Change
  r.log.change(merged(8, 4), peer)
  assert.deepEqual(r.applied('S1.a'), [], 'held: versions 2-4 have not come')
  assert.equal(r.log.held, 1)
  r.log.change(merged(4, 1), peer)
  assert.deepEqual(r.applied('S1.a'), ['v4', 'v8'], 'its base came: both applied in order')
  r.log.change(delta('S1.a', 6, 'aa', 'aa'), peer)
  assert.deepEqual(r.applied('S1.a'), ['v4', 'v8'], 'a version it covered is a duplicate')
  assert.equal(r.log.counters.droppedDuplicates, 1)
})

test('a merged delta built on another version than the one held is a conflict: the copy is fetched, never applied out of order', () => {
  const r = replicas()
  r.copy('S1.a', 5, 'aa')
  r.log.change({ ...delta('S1.a', 8, 'aa', 'aa'), p: 3 } as Change, peer)
  assert.deepEqual(r.applied('S1.a'), [])
  assert.deepEqual(r.fetched, ['S1.a 8.aa from p1'])
  assert.equal(r.log.counters.conflicts, 1)
})

test('a change or a copy this member already has is dropped and counted, not applied twice', () => {
  const r = replicas()
  r.copy('S1.a', 1)
  r.log.change(delta('S1.a', 2), peer)
  r.log.change(delta('S1.a', 2), peer)
  r.log.change(delta('S1.a', 1), peer)
  assert.equal(r.copy('S1.a', 2), false, 'a copy no newer than the one held')
  assert.equal(r.copy('S1.a', 3), true, 'a newer copy replaces it')
  assert.equal(r.log.counters.droppedDuplicates, 3)
})

test('the route suffix of an id does not matter: a change for S1.b reaches the copy of S1.a', () => {
  const r = replicas()
  r.copy('S1.a', 1)
  r.log.change(delta('S1.b', 2), peer)
  assert.deepEqual(r.applied('S1.a'), ['v2'])
})

test('a change for a session not held yet waits for its copy, then is applied after it', () => {
  const r = replicas()
  r.log.change(delta('S1.a', 3), peer)
  r.log.change(delta('S1.a', 2), peer)
  assert.equal(r.log.held, 2)
  r.copy('S1.a', 1)
  assert.deepEqual(r.applied('S1.a'), ['v2', 'v3'])
  assert.equal(r.log.held, 0)
})

test('a held change older than the copy that arrives is dropped as a duplicate', () => {
  const r = replicas()
  r.log.change(delta('S1.a', 2), peer)
  r.log.change(delta('S1.a', 4), peer)
  r.copy('S1.a', 3)
  assert.deepEqual(r.applied('S1.a'), ['v4'])
  assert.equal(r.log.counters.droppedDuplicates, 1)
})

test('held changes follow a session to its new id (change of id)', () => {
  const r = replicas()
  r.copy('S1.a', 1)
  r.log.change(delta('S2.b', 3), peer)
  r.log.change(changeId('S1.a', 'S2.b', 2), peer)
  assert.deepEqual(r.applied('S2.b'), ['id S2.b', 'v3'])
  assert.equal(r.copies.has('S1'), false)
  assert.equal(r.log.held, 0)
})

test('a change of id to an id already held is not held (nor applied)', () => {
  const r = replicas()
  r.copy('S2.b', 1)
  r.log.change(changeId('S1.a', 'S2.b', 2), peer)
  assert.equal(r.log.held, 0)
  assert.deepEqual(r.applied('S2.b'), [])
})

test('a change of id that arrives after the session under its new id drops the copy under the old id', () => {
  const r = replicas()
  r.copy('S1.a', 1)
  // Another owner renamed its copy and pushed it here before the change of id itself arrived.
  r.copy('S2.b', 2)
  r.log.change(changeId('S1.a', 'S2.b', 2), peer)
  assert.equal(r.copies.has('S1'), false, 'the old id is held no more')
  assert.deepEqual(r.applied('S2.b'), [], 'the copy under the new id is kept as it was')
  assert.equal(r.log.held, 0)
})

test('a session that is gone is not brought back by a late change or copy', () => {
  const r = replicas()
  r.log.change(delta('S1.a', 2), peer)
  r.log.gone('S1.a')
  assert.equal(r.log.held, 0, 'the changes held for it are forgotten')
  r.log.change(delta('S1.a', 3), peer)
  assert.equal(r.log.held, 0, 'a later change is not held')
  assert.equal(r.copy('S1.b', 5), false, 'nor a copy taken, whatever its route')
})

test('a session that expired here leaves a tombstone too', () => {
  const r = replicas()
  r.log.tombstone('S1.a')
  assert.equal(r.copy('S1.a', 1), false)
})

test('only the last maxTombstones tombstones are kept, the oldest goes first', () => {
  const r = replicas({ maxTombstones: 2 })
  for (const id of ['S1', 'S2', 'S3']) r.log.tombstone(id)
  assert.equal(r.copy('S1', 1), true)
  assert.equal(r.copy('S2', 1), false)
  assert.equal(r.copy('S3', 1), false)
})

test('after the hold timeout a change still missing its predecessor is never applied out of order: the copy is fetched from its writer', () => {
  const r = replicas({ holdTimeoutMs: 0 })
  r.copy('S1.a', 1)
  r.log.change(delta('S1.a', 5, 'bb', 'bb'), peer)
  r.log.change(delta('S1.a', 3, 'bb', 'bb'), peer)
  assert.equal(r.log.held, 2)
  r.log.sweep()
  assert.deepEqual(r.applied('S1.a'), [])
  assert.deepEqual(r.fetched, ['S1.a 3.bb from p1', 'S1.a 5.bb from p1'])
  assert.equal(r.log.held, 0)
})

test('the sweep leaves changes younger than the hold timeout waiting', () => {
  const r = replicas({ holdTimeoutMs: 60_000 })
  r.copy('S1.a', 1)
  r.log.change(delta('S1.a', 3), peer)
  r.log.sweep()
  assert.equal(r.log.held, 1)
  assert.deepEqual(r.applied('S1.a'), [])
})

test('changes whose session never came are dropped after the hold timeout, unless a transfer may bring it', () => {
  let transferring = true
  const r = replicas({ holdTimeoutMs: 0, transferring: () => transferring })
  r.log.change(delta('S1.a', 2), peer)
  r.log.sweep()
  assert.equal(r.log.held, 1, 'kept while a state transfer runs')
  transferring = false
  r.log.sweep()
  assert.equal(r.log.held, 0)
  assert.equal(r.log.counters.heldDropped, 1)
})

test('settling after a state transfer settles every held change (a gap fetches the copy) and drops those without a session, however young', () => {
  const r = replicas({ holdTimeoutMs: 60_000, transferring: () => true })
  r.copy('S1.a', 1)
  r.log.change(delta('S1.a', 3), peer)
  r.log.change(delta('S2.a', 2), peer)
  r.log.settle()
  assert.deepEqual(r.applied('S1.a'), [])
  assert.deepEqual(r.fetched, ['S1.a 3. from p1'])
  assert.equal(r.log.held, 0)
  assert.equal(r.log.counters.heldDropped, 1)
})

test('at most maxHeld changes are held: more are dropped, counted and logged', () => {
  const r = replicas({ maxHeld: 2 })
  for (const v of [2, 3, 4]) r.log.change(delta('S1.a', v), peer)
  assert.equal(r.log.held, 2)
  assert.equal(r.log.counters.heldDropped, 1)
  assert.equal(r.warnings.filter((w) => w.includes('too many out-of-order changes held')).length, 1)
  r.copy('S1.a', 1)
  assert.deepEqual(r.applied('S1.a'), ['v2', 'v3'], 'the ones held are applied when their session comes')
})

test('changes held past the hold timeout ask for a re-sync from their sender and wait for it; the copy it brings settles them', () => {
  let running = false
  const asked: string[] = []
  const r = replicas({
    holdTimeoutMs: 0,
    transferring: () => running,
    resync: (from) => {
      asked.push(from.name)
      running = true
      return true
    },
  })
  r.copy('S1.a', 1)
  r.log.change(delta('S1.a', 4), peer) // v2 and v3 were missed while cut off
  r.log.change(delta('S2.a', 3), peer) // a session created meanwhile
  r.log.sweep()
  assert.deepEqual(asked, ['p1'])
  assert.equal(r.log.held, 2, 'neither forced nor dropped while the re-sync runs')
  r.copy('S1.a', 3) // the re-sync brings the copies
  r.copy('S2.a', 2)
  assert.deepEqual(r.applied('S1.a'), ['v4'])
  assert.deepEqual(r.applied('S2.a'), ['v3'])
  assert.equal(r.log.held, 0)
  assert.equal(r.log.counters.heldDropped, 0)
})

test('when no re-sync can be had, held changes fetch their session copy, or are dropped without a session, after the hold timeout', () => {
  const r = replicas({ holdTimeoutMs: 0, resync: () => false })
  r.copy('S1.a', 1)
  r.log.change(delta('S1.a', 3), peer)
  r.log.change(delta('S2.a', 2), peer)
  r.log.sweep()
  assert.deepEqual(r.applied('S1.a'), [])
  assert.deepEqual(r.fetched, ['S1.a 3. from p1'])
  assert.equal(r.log.counters.heldDropped, 1)
})
