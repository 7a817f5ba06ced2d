import assert from 'node:assert/strict'
import { test } from 'node:test'
import { AttributeMap } from '../../../node/session/attribute-map.ts'

/** The same operations on an AttributeMap and a Map must give the same answers. */
function same(ops: Array<['set', string, unknown] | ['delete', string]>) {
  const a = new AttributeMap()
  const m = new Map<string, unknown>()
  for (const op of ops) {
    if (op[0] === 'set') {
      a.set(op[1], op[2])
      m.set(op[1], op[2])
    } else assert.equal(a.delete(op[1]), m.delete(op[1]))
    assert.equal(a.size, m.size)
    assert.deepEqual(a.entries(), [...m])
    assert.deepEqual(a.keys(), [...m.keys()])
  }
  for (const k of [...m.keys(), 'missing']) {
    assert.equal(a.get(k), m.get(k))
    assert.equal(a.has(k), m.has(k))
  }
}

test('behaves as a Map: insertion order, replacing keeps the place, delete closes the gap', () => {
  same([
    ['set', 'a', 1],
    ['set', 'b', 2],
    ['set', 'a', 3],
    ['set', '__proto__', 'x'],
    ['set', 'constructor', undefined],
    ['delete', 'b'],
    ['delete', 'b'],
    ['set', 'b', 4],
  ])
})

test('past sixteen attributes it keeps the same order and answers (a Map takes over)', () => {
  const ops: Array<['set', string, unknown] | ['delete', string]> = []
  for (let i = 0; i < 40; i++) ops.push(['set', `k${i}`, i])
  ops.push(['delete', 'k3'], ['set', 'k0', 'again'], ['set', 'k3', 3])
  same(ops)
})

test('starts from replicated [name, value] pairs', () => {
  const a = new AttributeMap([
    ['x', 1],
    ['y', new Set([1])],
  ])
  assert.deepEqual(a.keys(), ['x', 'y'])
  assert.deepEqual(a.get('y'), new Set([1]))
})
