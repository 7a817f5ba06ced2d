import assert from 'node:assert/strict'
import { test } from 'node:test'
import { VersionWaiters } from '../../../node/session/version-waiters.ts'

const long = { timeoutMs: 60_000, slowMs: 60_000, slow: () => {} }

test('a waiter goes on once the copy ranks at least what it waits for, not before', async () => {
  const w = new VersionWaiters()
  const waiting = w.wait('S1', { version: 5, writer: 'bb' }, long)
  w.wake('S1', { version: 5, writer: 'aa' })
  w.wake('S2', { version: 9, writer: 'aa' })
  assert.equal(w.size, 1, 'a lower rank or another session does not wake it')
  w.wake('S1', { version: 5, writer: 'cc' })
  assert.equal(await waiting, 'caught-up')
  assert.equal(w.size, 0)
})

test('a copy wakes the waiters of its session by key, whatever its route suffix', async () => {
  const w = new VersionWaiters()
  w.wakeCopy({ id: 'S1.n1', version: 9, writer: 'aa' }) // none waits: nothing to do
  const waiting = w.wait('S1', { version: 5, writer: 'aa' }, long)
  w.wakeCopy({ id: 'S1.n2', version: 4, writer: 'aa' })
  assert.equal(w.size, 1, 'an older copy does not wake it')
  w.wakeCopy({ id: 'S1.n2', version: 5, writer: 'aa' })
  assert.equal(await waiting, 'caught-up')
})

test('a waiter ends at its deadline, and calls its slow hook once before', async () => {
  const w = new VersionWaiters()
  let slow = 0
  const end = await w.wait(
    'S1',
    { version: 2, writer: 'aa' },
    { timeoutMs: 40, slowMs: 5, slow: () => slow++ },
  )
  assert.equal(end, 'timeout')
  assert.equal(slow, 1)
  assert.equal(w.size, 0)
})

test('giving a session up ends all its waiters at once', async () => {
  const w = new VersionWaiters()
  const both = [
    w.wait('S1', { version: 2, writer: 'aa' }, long),
    w.wait('S1', { version: 3, writer: 'aa' }, long),
  ]
  w.giveUp('S1')
  assert.deepEqual(await Promise.all(both), ['given-up', 'given-up'])
})

test('at most maxPerSession waiters per session and maxTotal in all: beyond, a wait ends at once as full', async () => {
  const w = new VersionWaiters({ maxPerSession: 2, maxTotal: 3 })
  const want = { version: 2, writer: 'aa' }
  const held = [w.wait('S1', want, long), w.wait('S1', want, long)]
  assert.equal(await w.wait('S1', want, long), 'full', 'per session')
  held.push(w.wait('S2', want, long))
  assert.equal(await w.wait('S3', want, long), 'full', 'in all')
  assert.equal(w.size, 3)
  w.clear()
  assert.deepEqual(await Promise.all(held), ['given-up', 'given-up', 'given-up'])
})
