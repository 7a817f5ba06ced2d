import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  entryFromWire,
  type FarmEntry,
  FarmTable,
  MAX_ENTRIES,
  mergeOutcome,
  wins,
} from '../../../node/farm/farm-state.ts'

const A = 'a'.repeat(64)
const B = 'b'.repeat(64)
const e = (stamp: number, digest: string | null, name = 'shop', origin = 'n1'): FarmEntry => ({
  name,
  digest,
  size: digest ? 100 : 0,
  stamp,
  origin,
})

describe('the farm convergence rule', () => {
  const table: Array<[string, FarmEntry | undefined, FarmEntry, string]> = [
    ['a first entry is adopted', undefined, e(1, A), 'adopt'],
    ['a first undeploy is adopted (remembered as a tombstone)', undefined, e(1, null), 'adopt'],
    ['a newer stamp wins', e(1, A), e(2, B), 'adopt'],
    ['an older stamp loses', e(2, A), e(1, B), 'ignore'],
    ['at equal stamps the larger digest wins', e(5, A), e(5, B), 'adopt'],
    ['at equal stamps the smaller digest loses', e(5, B), e(5, A), 'ignore'],
    ['at equal stamps a deploy beats an undeploy', e(5, null), e(5, A), 'adopt'],
    ['a newer undeploy wins', e(5, A), e(6, null), 'adopt'],
    ['the digest held with a newer stamp only restamps', e(5, A), e(9, A), 'restamp'],
    ['the same entry again is ignored', e(5, A), e(5, A), 'ignore'],
  ]
  for (const [name, held, incoming, want] of table)
    it(name, () => {
      assert.equal(mergeOutcome(held, incoming), want)
    })

  it('ends with the same entry on every member whatever order the entries arrive in', () => {
    const entries = [
      e(3, A, 'x', 'n1'),
      e(3, B, 'x', 'n2'),
      e(2, null, 'x', 'n3'),
      e(1, A, 'x', 'n2'),
      e(3, null, 'x'),
    ]
    const orders = [
      [0, 1, 2, 3, 4],
      [4, 3, 2, 1, 0],
      [2, 0, 4, 1, 3],
      [1, 3, 0, 4, 2],
    ]
    const finals = orders.map((order) => {
      const t = new FarmTable()
      for (const i of order) t.merge(entries[i] as FarmEntry)
      return t.get('x')
    })
    for (const f of finals) assert.deepEqual(f, finals[0])
    assert.equal(finals[0]?.digest, B)
  })

  it('stamps a new deploy past the entry held, even when the clock is behind', () => {
    const t = new FarmTable()
    t.merge(e(10_000, A))
    const stamp = t.nextStamp('shop', 5_000)
    assert.equal(stamp, 10_001)
    assert.ok(wins({ stamp, digest: '0'.repeat(64) }, e(10_000, A)))
    assert.equal(t.nextStamp('other', 5_000), 5_000)
  })

  it(`forgets the oldest tombstone beyond ${MAX_ENTRIES} names, and refuses a new name when all are deployed`, () => {
    const t = new FarmTable()
    for (let i = 0; i < MAX_ENTRIES - 1; i++) t.merge(e(i + 10, A, `app${i}`))
    t.merge(e(1, null, 'gone'))
    t.merge(e(2, A, 'fresh'))
    assert.equal(t.get('gone'), undefined)
    assert.equal(t.all().length, MAX_ENTRIES)
    assert.throws(
      () => t.merge(e(3, A, 'one-more')),
      (err: Error & { code: string }) =>
        err.code === 'CATTERY_ERR_FARM_TOO_MANY' && /one-more/.test(err.message),
    )
  })

  it('accepts only well-formed entries from the wire', () => {
    assert.deepEqual(entryFromWire(e(1, A)), e(1, A))
    for (const bad of [
      null,
      { ...e(1, A), name: '../etc' },
      { ...e(1, A), digest: 'xyz' },
      { ...e(1, A), size: -1 },
      { ...e(1, A), stamp: 1.5 },
      { ...e(1, A), origin: 7 },
    ])
      assert.equal(entryFromWire(bad), undefined, JSON.stringify(bad))
  })
})
