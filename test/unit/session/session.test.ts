import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { sessionCodes } from '../../../node/session/errors.ts'
import { DEFAULT_LIMITS } from '../../../node/session/limits.ts'
import { internWriter } from '../../../node/session/rank.ts'
import {
  fromTuple,
  Session,
  type SessionData,
  type SessionPolicy,
  toTuple,
} from '../../../node/session/session.ts'
import { encode } from '../../../node/tribes/codec.ts'

const policy = (p: Partial<SessionPolicy> = {}): SessionPolicy => ({
  ...DEFAULT_LIMITS,
  maxAttributeSize: 1024,
  maxSessionSize: 4096,
  attributeNameFilter: undefined,
  recordAllActions: false,
  trackInPlaceChanges: true,
  ...p,
})
const session = (p?: Partial<SessionPolicy>) =>
  new Session({ id: 'ABC.n1', maxInactiveInterval: 60, policy: policy(p) })

describe('Session', () => {
  it('takes the values msgpackr carries faithfully', () => {
    const s = session()
    for (const v of [
      1,
      'x',
      null,
      true,
      5n,
      new Date(0),
      new Map([['a', 1]]),
      new Set([1]),
      Buffer.from('b'),
      [1, { a: [2] }],
    ]) {
      s.set('v', v)
      assert.deepEqual(s.get('v'), v)
    }
  })

  for (const [what, value] of [
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
    ['a class instance', new (class Cart {})()],
    ['a nested promise', { list: [Promise.resolve(1)] }],
  ] as const) {
    it(`refuses ${what} at set time with ${sessionCodes.NOT_REPLICABLE}`, () => {
      assert.throws(() => session().set('v', value), { code: sessionCodes.NOT_REPLICABLE })
    })
  }

  it('refuses an attribute or a session over its size limit, naming the limit', () => {
    const s = session()
    assert.throws(
      () => s.set('big', 'x'.repeat(2000)),
      (e: Error & { code: string }) => {
        assert.equal(e.code, sessionCodes.ATTRIBUTE_TOO_LARGE)
        assert.match(e.message, /limit is 1024 \(session\.maxAttributeSize\)/)
        return true
      },
    )
    for (let i = 0; i < 4; i++) s.set(`a${i}`, 'x'.repeat(900))
    assert.throws(() => s.set('a4', 'x'.repeat(900)), { code: sessionCodes.SESSION_TOO_LARGE })
    s.delete('a0')
    s.set('a4', 'x'.repeat(900))
  })

  it('records the last action per attribute, or all of them with recordAllActions', () => {
    const s = session()
    s.set('a', 1)
    s.set('a', 2)
    s.delete('a')
    assert.deepEqual(s.delta.drain(), [['remove', 'a']])
    const all = session({ recordAllActions: true })
    all.set('a', 1)
    all.set('a', 2)
    assert.deepEqual(all.delta.drain(), [
      ['set', 'a', 1],
      ['set', 'a', 2],
    ])
  })

  it('notices an attribute changed in place, which Tomcat would silently not replicate', () => {
    const s = session()
    const cart: string[] = []
    s.set('cart', cart)
    s.delta.drain()
    cart.push('book')
    s.noticeInPlaceChanges()
    assert.deepEqual(s.delta.drain(), [['set', 'cart', ['book']]])
    s.noticeInPlaceChanges()
    assert.deepEqual(s.delta.drain(), [])
  })

  it('notices an in-place change of a large attribute too (remembered by digest, not by a copy)', () => {
    const s = session()
    const profile = { bio: 'x'.repeat(500), tags: ['a'] }
    s.set('profile', profile)
    s.delta.drain()
    s.noticeInPlaceChanges()
    assert.deepEqual(s.delta.drain(), [], 'unchanged: nothing to replicate')
    profile.tags.push('b')
    s.noticeInPlaceChanges()
    assert.deepEqual(s.delta.drain(), [['set', 'profile', profile]])
    s.noticeInPlaceChanges()
    assert.deepEqual(s.delta.drain(), [])
  })

  it('notices an in-place change of an attribute that was a string before and an object now', () => {
    const s = session()
    s.set('a', 'x'.repeat(500))
    s.delta.drain()
    s.noticeInPlaceChanges()
    assert.deepEqual(s.delta.drain(), [], 'a string cannot change in place')
    const list = [1]
    s.set('a', list)
    s.delta.drain()
    list.push(2)
    s.noticeInPlaceChanges()
    assert.deepEqual(s.delta.drain(), [['set', 'a', [1, 2]]])
    s.set('a', 7)
    s.delta.drain()
    list.push(3)
    s.noticeInPlaceChanges()
    assert.deepEqual(s.delta.drain(), [], 'the attribute no longer holds the list')
    assert.equal(s.size, s.sizeOf('a'))
  })

  it('replicates only attributes matching sessionAttributeNameFilter', () => {
    const s = session({ attributeNameFilter: /^shared\./ })
    s.set('shared.x', 1)
    s.set('local', 2)
    assert.deepEqual(s.delta.drain(), [['set', 'shared.x', 1]])
    assert.deepEqual(s.toData().attributes, [['shared.x', 1]])
  })

  it('refuses use after invalidation', () => {
    const s = session()
    s.valid = false
    assert.throws(() => s.get('a'), { code: sessionCodes.INVALID_SESSION })
  })
})

describe('Session limits shared with replicated data (limits.ts)', () => {
  it(`refuses a new attribute beyond maxAttributes with ${sessionCodes.TOO_MANY_ATTRIBUTES}, but still replaces one`, () => {
    const s = session({ maxAttributes: 2 })
    s.set('a', 1)
    s.set('b', 2)
    assert.throws(() => s.set('c', 3), { code: sessionCodes.TOO_MANY_ATTRIBUTES })
    s.set('a', 10)
    assert.deepEqual(s.keys(), ['a', 'b'])
  })

  it(`refuses a value nested deeper than maxValueDepth with ${sessionCodes.VALUE_TOO_DEEP}, without walking all of it`, () => {
    let deep: unknown = 1
    for (let i = 0; i < 100_000; i++) deep = [deep]
    assert.throws(() => session().set('deep', deep), { code: sessionCodes.VALUE_TOO_DEEP })
    let ok: unknown = 1
    for (let i = 0; i < 64; i++) ok = { ok }
    session().set('ok', ok)
  })

  it(`refuses a max inactive interval beyond session.maxTimeout, or never-expiring, with ${sessionCodes.BAD_INACTIVE_INTERVAL}`, () => {
    const s = session({ maxInactiveInterval: 3600 })
    s.setMaxInactiveInterval(3600)
    for (const bad of [3601, -1, 1.5, Number.NaN])
      assert.throws(() => s.setMaxInactiveInterval(bad), { code: sessionCodes.BAD_INACTIVE_INTERVAL })
    assert.equal(s.maxInactiveInterval, 3600)
    session({ maxInactiveInterval: -1 }).setMaxInactiveInterval(-1)
  })

  it('keeps its encoded size as attributes are set, replaced and removed', () => {
    const s = session()
    s.set('a', 'x'.repeat(100))
    s.set('b', 'y'.repeat(50))
    s.set('a', 'z')
    s.delete('b')
    const size = s.size
    s.knownSize(-1)
    assert.equal(s.size, size)
  })

  it('keeps its encoded size right when an attribute changed in place is noticed', () => {
    const s = session()
    const cart: string[] = []
    s.set('cart', cart)
    s.set('user', 'alice')
    s.delta.drain()
    cart.push('x'.repeat(200))
    s.noticeInPlaceChanges()
    assert.equal(s.sizeOf('cart'), encode(cart).length)
    const size = s.size
    s.knownSize(-1)
    assert.equal(s.size, size)
  })
})

describe('Writer ids (rank.ts)', () => {
  it('interns equal writers to one value, and keeps working past its table bound', () => {
    const w = 'abcdef0123456789'
    assert.equal(internWriter(`${w}`), w)
    for (let i = 0; i < 1100; i++)
      assert.equal(internWriter(i.toString(16).padStart(16, '0')), i.toString(16).padStart(16, '0'))
    assert.equal(internWriter(w), w)
  })
})

describe('Packed sessions (state-transfer tuples)', () => {
  const data: SessionData = {
    id: 'S1.n1',
    creationTime: 1,
    lastAccessedTime: 2,
    maxInactiveInterval: 1800,
    principal: 'ann',
    authType: 'FORM',
    version: 3,
    writer: 'ab',
    attributes: [['cart', ['apple']]],
  }

  it('a session survives packing and unpacking, with or without a writer', () => {
    assert.deepEqual(fromTuple(toTuple(data)), data)
    const { writer: _w, ...older } = data
    assert.deepEqual(fromTuple(toTuple(older)), older)
  })

  it('a tuple with the wrong number of fields is refused with a message that says so', () => {
    assert.throws(() => fromTuple(['S1.n1', 1]), /a packed session has 2 fields, not 9/)
  })
})
