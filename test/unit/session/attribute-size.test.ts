/**
 * Numbers, booleans, null and strings are measured without being encoded (node/session/limits.ts);
 * the size must be the codec's, byte for byte, or a member's accounting would drift from the sizes
 * the others compute.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { sessionCodes } from '../../../node/session/errors.ts'
import { attributeSize, DEFAULT_LIMITS, primitiveSize } from '../../../node/session/limits.ts'
import { encode } from '../../../node/tribes/codec.ts'

test('the size of a number is the codec’s, across every integer form and doubles', () => {
  const values: number[] = [-0, 0.5, -1.5, Number.NaN, Infinity, -Infinity, Number.MAX_SAFE_INTEGER, 1e300]
  for (let i = -70_000; i <= 70_000; i++) values.push(i)
  for (const edge of [2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, -(2 ** 31), -(2 ** 31) - 1, -(2 ** 53)])
    values.push(edge, edge + 1, edge - 1)
  for (const v of values) assert.equal(primitiveSize(v), encode(v).length, `size of ${v}`)
})

test('the size of a string is the codec’s, for every length form and for multi-byte and broken UTF-16', () => {
  const samples: string[] = []
  for (let n = 0; n < 70_000; n += n < 300 ? 1 : 997)
    samples.push(
      'a'.repeat(n),
      'é'.repeat(n),
      '😀'.repeat(n >> 1),
      `${'\ud800'.repeat(n >> 2)}x`,
      'ab\udc00'.repeat(n >> 3),
    )
  for (const s of samples) assert.equal(primitiveSize(s), encode(s).length, `size of a string of ${s.length}`)
})

test('booleans and null are one byte; objects, bigints and the rest are left to the encoder', () => {
  for (const v of [true, false, null]) assert.equal(primitiveSize(v), encode(v).length)
  for (const v of [{}, [], new Map(), 1n, undefined, Symbol('s'), () => 1])
    assert.equal(primitiveSize(v), undefined)
})

test('a measured value is held to the same limit as an encoded one, with the same code', () => {
  const limits = { ...DEFAULT_LIMITS, maxAttributeSize: 8 }
  assert.equal(attributeSize('n', 12, limits), 1)
  assert.throws(() => attributeSize('s', 'longer than eight', limits), {
    code: sessionCodes.ATTRIBUTE_TOO_LARGE,
  })
  assert.throws(() => attributeSize('o', { a: 'longer than eight' }, limits), {
    code: sessionCodes.ATTRIBUTE_TOO_LARGE,
  })
  assert.throws(() => attributeSize('f', () => 1, limits), { code: sessionCodes.NOT_REPLICABLE })
})
