import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Session } from '../../../node/session/session.ts'
import { keyOf, SessionStore } from '../../../node/session/store.ts'

/** Stand-ins: the store only holds them. */
const session = (name: string) => ({ name }) as unknown as Session

describe('SessionStore', () => {
  it('finds a session under any route of its id (the JvmRouteBinder changes the route, not the key)', () => {
    const store = new SessionStore()
    const a = session('a')
    store.set('ABC123.n1', a)
    assert.equal(store.get('ABC123.n1'), a)
    assert.equal(store.get('ABC123.n2'), a)
    assert.equal(store.get('ABC123'), a)
    assert.deepEqual([...store.keys()], ['ABC123'])
    assert.equal(keyOf('ABC123.n1'), 'ABC123')
  })

  it('answers the id it looked up last with what the map holds now, after a set and a delete of it', () => {
    const store = new SessionStore()
    const a = session('a')
    const b = session('b')
    assert.equal(store.get('S1.n1'), undefined)
    store.set('S1.n1', a)
    assert.equal(store.get('S1.n1'), a, 'the set is seen, not the miss remembered before it')
    store.set('S1.n2', b)
    assert.equal(store.get('S1.n1'), b, 'a set under another route replaces the same key')
    assert.equal(store.delete('S1.n1'), true)
    assert.equal(store.get('S1.n1'), undefined, 'the delete is seen')
    assert.equal(store.get('S1.n2'), undefined)
    assert.equal(store.size, 0)
  })

  it('keeps each key once: set, delete and set again under other ids of the same session', () => {
    const store = new SessionStore()
    store.set('K.n1', session('1'))
    store.get('Z.n1')
    store.set('K.n3', session('2'))
    assert.equal(store.size, 1)
    assert.equal(store.delete('K.n2'), true)
    assert.equal(store.delete('K.n2'), false)
    assert.equal(store.has('K.n1'), false)
  })
})
