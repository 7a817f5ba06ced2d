import assert from 'node:assert/strict'
import { test } from 'node:test'
import { sessionCodes } from '../../../node/session/errors.ts'
import { chunksOf, PageCutter, pageBudget, Reassembly } from '../../../node/session/transfer-pages.ts'

const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill)

test('the page budget is half the largest frame', () => {
  assert.equal(pageBudget(16 * 1024 * 1024), 8 * 1024 * 1024)
})

test('a page leaves when the next session would take it over the budget or over the count', () => {
  const cut = new PageCutter(100, 3)
  assert.equal(cut.add(bytes(40)), undefined)
  assert.equal(cut.add(bytes(40)), undefined)
  assert.deepEqual(
    cut.add(bytes(40))?.map((b) => b.length),
    [40, 40],
    'over 100 bytes: the first two leave',
  )
  assert.equal(cut.add(bytes(10)), undefined)
  assert.equal(cut.add(bytes(10)), undefined)
  assert.equal(cut.full, true, 'three sessions: the count is reached')
  assert.deepEqual(
    cut.take()?.map((b) => b.length),
    [40, 10, 10],
  )
  assert.equal(cut.take(), undefined)
  assert.equal(cut.oversized(bytes(101)), true)
  assert.equal(cut.oversized(bytes(100)), false)
})

test('chunks of a large session put back together give its bytes', () => {
  const whole = Uint8Array.from({ length: 1000 }, (_, i) => i % 251)
  const chunks = chunksOf(whole, 300)
  assert.deepEqual(
    chunks.map((c) => c.length),
    [300, 300, 300, 100],
  )
  const r = new Reassembly(10_000)
  let out: ReturnType<Reassembly['add']>
  for (const [i, c] of chunks.entries()) out = r.add(i, chunks.length, whole.length, c)
  assert.deepEqual(out, { bytes: Buffer.from(whole) })
  assert.equal(r.bytes, 0)
})

test('a session over the joiner’s bound is refused: its chunks are not kept, and the next session arrives', () => {
  const r = new Reassembly(500)
  assert.equal(r.add(0, 2, 1000, bytes(500)), undefined)
  assert.equal(r.bytes, 0)
  assert.match((r.add(1, 2, 1000, bytes(500)) as { refused: string }).refused, /exceeds the limit of 500/)
  assert.deepEqual(r.add(0, 1, 3, bytes(3)), { bytes: Buffer.from(bytes(3)) })
})

test('a chunk out of order or over its announced size is refused with a coded error', () => {
  const r = new Reassembly(10_000)
  assert.throws(() => r.add(1, 2, 10, bytes(5)), { code: sessionCodes.TRANSFER_CHUNK_LIMIT })
  r.add(0, 2, 10, bytes(5))
  assert.throws(() => r.add(1, 2, 10, bytes(6)), { code: sessionCodes.TRANSFER_CHUNK_LIMIT })
  assert.equal(r.bytes, 0, 'the partial session is forgotten')
})
