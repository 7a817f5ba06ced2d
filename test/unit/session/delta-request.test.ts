import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DeltaRequest } from '../../../node/session/delta-request.ts'

describe('DeltaRequest', () => {
  it('keeps the last action per attribute, in the order each attribute was first touched', () => {
    const d = new DeltaRequest(false)
    d.set('a', 1)
    d.set('b', 2)
    d.remove('a')
    d.maxInactive(60)
    d.principal('ann', 'FORM')
    d.maxInactive(120)
    assert.deepEqual(d.drain(), [
      ['remove', 'a'],
      ['set', 'b', 2],
      ['maxInactive', 120],
      ['principal', 'ann', 'FORM'],
    ])
    assert.deepEqual(d.drain(), [])
    assert.equal(d.empty, true)
  })

  it('does not take an attribute named like the other actions for them', () => {
    const d = new DeltaRequest(false)
    d.set('m', 1)
    d.set('p', 2)
    d.maxInactive(60)
    d.principal(undefined, undefined)
    assert.equal(d.drain().length, 4)
  })

  it('keeps every action in order with recordAllActions', () => {
    const d = new DeltaRequest(true)
    d.set('a', 1)
    d.set('a', 2)
    d.remove('a')
    assert.equal(d.touches('a'), true)
    assert.deepEqual(d.drain(), [
      ['set', 'a', 1],
      ['set', 'a', 2],
      ['remove', 'a'],
    ])
  })

  it('says which attributes a request touched, also past a few dozen of them', () => {
    for (const recordAll of [false, true]) {
      const d = new DeltaRequest(recordAll)
      for (let i = 0; i < 40; i++) d.set(`k${i}`, i)
      for (let i = 0; i < 40; i += 2) d.set(`k${i}`, -i)
      assert.equal(d.touches('k39'), true)
      assert.equal(d.touches('k40'), false)
      const actions = d.drain()
      assert.equal(actions.length, recordAll ? 60 : 40)
      if (!recordAll) assert.deepEqual(actions[38], ['set', 'k38', -38])
      assert.equal(d.touches('k1'), false)
    }
  })
})
