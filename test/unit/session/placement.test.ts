import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { owners, PlacementView } from '../../../node/session/placement.ts'

const member = (i: number) => (0x1000 + i).toString(16).padStart(16, 'a')
const members = (n: number) => Array.from({ length: n }, (_, i) => member(i))
const keys = Array.from({ length: 20_000 }, () => randomBytes(16).toString('hex').toUpperCase())

test('every member computes the same owners from the same view, whatever the order it lists them in', () => {
  const a = new PlacementView(members(5))
  const b = new PlacementView(members(5).reverse())
  assert.ok(a.equals(b))
  for (const k of keys.slice(0, 500)) assert.deepEqual(a.owners(k, 2), b.owners(k, 2))
  assert.deepEqual(owners(members(5), keys[0] as string, 2), a.owners(keys[0] as string, 2))
})

test('owners are distinct members, as many as asked (fewer when the view is smaller), the primary first', () => {
  const table: Array<[n: number, copies: number, expected: number]> = [
    [1, 2, 1],
    [2, 2, 2],
    [5, 2, 2],
    [5, 3, 3],
    [8, 1, 1],
    [3, 5, 3],
  ]
  for (const [n, copies, expected] of table) {
    const view = new PlacementView(members(n))
    for (const k of keys.slice(0, 200)) {
      const o = view.owners(k, copies)
      assert.equal(o.length, expected, `n=${n} copies=${copies}`)
      assert.equal(new Set(o).size, o.length)
      // The first `copies - 1` owners are the owners for one copy fewer: backups extend the list.
      assert.deepEqual(view.owners(k, 1), o.slice(0, 1))
      assert.equal(view.role(k, copies, o[0] as string), 0)
    }
  }
})

test('sessions spread evenly: each member is primary for about 1/N of them', () => {
  for (const n of [3, 5, 8]) {
    const view = new PlacementView(members(n))
    const primaries = new Map<string, number>()
    for (const k of keys) {
      const p = view.owners(k, 1)[0] as string
      primaries.set(p, (primaries.get(p) ?? 0) + 1)
    }
    for (const [m, count] of primaries) {
      const share = count / keys.length
      assert.ok(Math.abs(share - 1 / n) < 0.25 / n, `member ${m} of ${n}: ${share}`)
    }
  }
})

test('a member that joins or leaves moves only the sessions it owns or comes to own (~(1+k)/N)', () => {
  // [members before, change, copies, the share of sessions whose owner list changes at most]
  const table: Array<[n: number, change: 'join' | 'leave', copies: number]> = [
    [4, 'join', 1],
    [4, 'join', 2],
    [5, 'leave', 2],
    [5, 'leave', 3],
    [8, 'join', 2],
    [8, 'leave', 2],
  ]
  for (const [n, change, copies] of table) {
    const before = new PlacementView(members(n))
    const changed = change === 'join' ? members(n + 1) : members(n).slice(1)
    const after = new PlacementView(changed)
    const mover = change === 'join' ? member(n) : member(0)
    const size = change === 'join' ? n + 1 : n
    let moved = 0
    let primaryMoved = 0
    for (const k of keys) {
      const a = before.owners(k, copies)
      const b = after.owners(k, copies)
      if (a.join() === b.join()) continue
      moved++
      if (a[0] !== b[0]) primaryMoved++
      // Only the member that joined or left comes in or goes out; the others keep their order.
      const without = (list: string[]) => list.filter((m) => m !== mover)
      const common = Math.min(without(a).length, without(b).length)
      assert.deepEqual(without(a).slice(0, common), without(b).slice(0, common))
      assert.ok(a.includes(mover) || b.includes(mover), `${change} of ${mover} moved ${k} it does not own`)
    }
    const share = moved / keys.length
    const expected = copies / size
    assert.ok(
      Math.abs(share - expected) < 0.2 * expected,
      `${n} ${change} k+1=${copies}: ${share} vs ${expected}`,
    )
    const primaryShare = primaryMoved / keys.length
    assert.ok(Math.abs(primaryShare - 1 / size) < 0.2 / size, `primaries moved: ${primaryShare}`)
  }
})
