import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { PlacementView } from '../../../node/session/placement.ts'
import { type HeldCopy, planRepair, repairAction } from '../../../node/session/repair.ts'

const ids = ['a1', 'b2', 'c3', 'd4', 'e5', 'f6']
const view = (list: string[]) => new PlacementView(list)
const all = view(ids)
/** A session key whose owners (2 copies, in `all`) are exactly `first` then `second`. */
function keyOwnedBy(first: string, second: string, v = all): string {
  for (;;) {
    const k = randomBytes(16).toString('hex').toUpperCase()
    const o = v.owners(k, 2)
    if (o[0] === first && o[1] === second) return k
  }
}
const copy = (key: string, o: Partial<HeldCopy> = {}): HeldCopy => ({
  key,
  inUse: false,
  confirmed: false,
  ...o,
})

test('after a loss, the surviving owner sends the copy to the new owner; nobody else acts', () => {
  const key = keyOwnedBy('a1', 'b2')
  const after = view(ids.filter((m) => m !== 'a1'))
  const newOwner = after.owners(key, 2).find((m) => m !== 'b2') as string
  // [this member, expected action]
  const table: Array<[string, { to: string[]; drop: boolean } | undefined]> = [
    ['b2', { to: [newOwner], drop: false }],
    [newOwner, undefined],
  ]
  for (const [self, expected] of table) {
    const a = repairAction({ self, before: all, after, copies: 2 }, copy(key))
    assert.deepEqual(a && { to: [...a.to], drop: a.drop }, expected, `member ${self}`)
  }
})

test('when every owner is gone, any member that holds a copy (a proxy) hands it to the new owners', () => {
  const key = keyOwnedBy('a1', 'b2')
  const after = view(ids.filter((m) => m !== 'a1' && m !== 'b2'))
  const now = after.owners(key, 2)
  const proxy = ids.find((m) => !['a1', 'b2', ...now].includes(m)) as string
  const inUse = repairAction({ self: proxy, before: all, after, copies: 2 }, copy(key, { inUse: true }))
  assert.deepEqual(inUse, { key, to: now, drop: false }, 'kept while in use, but sent')
  const idle = repairAction({ self: proxy, before: all, after, copies: 2 }, copy(key))
  assert.deepEqual(idle, { key, to: now, drop: true }, 'sent, then dropped')
})

test('a copy this member does not own is dropped only after the owners confirm it', () => {
  const key = keyOwnedBy('a1', 'b2')
  const table: Array<[HeldCopy, { to: string[]; drop: boolean } | undefined]> = [
    [copy(key), { to: ['a1', 'b2'], drop: true }],
    [copy(key, { confirmed: true }), { to: [], drop: true }],
    [copy(key, { inUse: true }), undefined],
  ]
  for (const [held, expected] of table) {
    const a = repairAction({ self: 'c3', before: all, after: all, copies: 2 }, held)
    assert.deepEqual(a && { to: [...a.to], drop: a.drop }, expected, JSON.stringify(held))
  }
})

test('a member displaced by a joiner sends its copy to the owners, and drops it once they confirm', () => {
  const before = view(ids.slice(0, 5))
  const after = all
  // A session whose owners before were [x, y] and are now [f6, x]: y is displaced.
  let key = ''
  let y = ''
  for (;;) {
    key = randomBytes(16).toString('hex').toUpperCase()
    const was = before.owners(key, 2)
    const now = after.owners(key, 2)
    if (now[0] === 'f6' && now[1] === was[0]) {
      y = was[1] as string
      break
    }
  }
  const displaced = repairAction({ self: y, before, after, copies: 2 }, copy(key))
  assert.deepEqual(displaced, { key, to: after.owners(key, 2), drop: true })
  const x = after.owners(key, 2)[1] as string
  assert.deepEqual(repairAction({ self: x, before, after, copies: 2 }, copy(key)), {
    key,
    to: ['f6'],
    drop: false,
  })
})

test('with an unchanged view, owners do nothing: a pass over many copies plans nothing', () => {
  const keys = Array.from({ length: 2000 }, () => randomBytes(16).toString('hex'))
  const mine = keys.filter((k) => all.owners(k, 3).includes('c3'))
  assert.deepEqual(
    planRepair(
      { self: 'c3', before: all, after: all, copies: 3 },
      mine.map((k) => copy(k)),
    ),
    [],
  )
})

test('without a settled view yet, every owner that holds a copy sends it to the other owners', () => {
  const key = keyOwnedBy('a1', 'b2')
  assert.deepEqual(repairAction({ self: 'a1', before: undefined, after: all, copies: 2 }, copy(key)), {
    key,
    to: ['b2'],
    drop: false,
  })
  assert.deepEqual(repairAction({ self: 'b2', before: undefined, after: all, copies: 2 }, copy(key)), {
    key,
    to: ['a1'],
    drop: false,
  })
})
