import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { sendsToJoiner } from '../../../node/session/joiner-share.ts'
import { PlacementView } from '../../../node/session/placement.ts'
import { transferScope } from '../../../node/session/state-transfer.ts'

const member = (i: number) => (0x1000 + i).toString(16).padStart(16, 'a')
const keys = Array.from({ length: 2_000 }, () => randomBytes(16).toString('hex').toUpperCase())

/**
 * For each key the joiner owns, which holders send it when every holder answers a request of
 * `donors` (`then`: the donors of an earlier request, when this one repeats it).
 */
function senders(view: string[], joiner: string, copies: number, donors: string[], then?: string[]) {
  const holders = new PlacementView(view)
  const withJoiner = new PlacementView([...view, joiner])
  const viewThen = then && new PlacementView([...view, ...then])
  const out = new Map<string, string[]>()
  for (const key of keys) {
    if (!withJoiner.owners(key, copies).includes(joiner)) continue
    const h = holders.owners(key, copies)
    const earlier = viewThen && {
      holders: new PlacementView([...viewThen.members, joiner]).owners(key, copies).includes(joiner)
        ? viewThen.owners(key, copies)
        : undefined,
      donors: new Set(then),
    }
    out.set(
      key,
      h.filter((m) => sendsToJoiner(m, h, new Set(donors), earlier)),
    )
  }
  return out
}

test('each session the joiner owns is sent by exactly one of its holders, the first that is a donor', () => {
  const view = [0, 1, 2, 3].map(member)
  const joiner = member(9)
  for (const copies of [2, 3]) {
    const sent = senders(view, joiner, copies, view)
    assert.ok(sent.size > 100)
    for (const [key, by] of sent) {
      assert.equal(by.length, 1, `session ${key} sent by ${by.length}`)
      assert.equal(by[0], new PlacementView(view).owners(key, copies)[0], 'its primary sends it')
    }
  }
})

test('a holder that is not a donor (joining, not ready) leaves its sessions to the next holder', () => {
  const view = [0, 1, 2, 3].map(member)
  const donors = view.slice(1)
  for (const [key, by] of senders(view, member(9), 2, donors)) {
    assert.equal(by.length, 1, `session ${key}`)
    assert.ok(donors.includes(by[0] as string))
  }
})

test('when no holder is a donor, every holder sends its copy (nothing is missed)', () => {
  const view = [0, 1].map(member)
  for (const by of senders(view, member(9), 2, [member(5)]).values()) assert.equal(by.length, 2)
})

test('asked again after a donor left without completing, the others send what it was to send, once, and nothing else', () => {
  const view = [0, 1, 2, 3].map(member)
  const joiner = member(9)
  const gone = member(1)
  const rest = view.filter((m) => m !== gone)
  // The first round: the donor that left sent nothing.
  const first = senders(view, joiner, 2, view)
  const got = new Set([...first].filter(([, by]) => by[0] !== gone).map(([key]) => key))
  // Asked again in the view without it: each session the joiner owns now and lacks is sent once.
  const again = senders(rest, joiner, 2, rest, view)
  assert.ok(again.size > 100)
  let resent = 0
  for (const [key, by] of again) {
    if (got.has(key)) assert.deepEqual(by, [], `already sent: ${key}`)
    else {
      assert.equal(by.length, 1, `not received yet: ${key}`)
      resent++
    }
  }
  assert.ok(resent > 50, `${resent} sessions sent again`)
})

test('a request names its donors as writer ids, at most 1024; anything else is served in full', () => {
  assert.deepEqual(transferScope({ donors: [member(1)] }), { donors: [member(1)] })
  assert.deepEqual(transferScope({ donors: [member(1)], sent: [member(2)] }), {
    donors: [member(1)],
    sent: [member(2)],
  })
  assert.equal(transferScope({}), undefined)
  assert.equal(transferScope({ donors: 'x' }), undefined)
  assert.equal(transferScope({ donors: ['NOT HEX'] }), undefined)
  assert.equal(transferScope({ donors: [member(1)], sent: [1] }), undefined)
  assert.equal(transferScope({ donors: Array.from({ length: 1025 }, (_, i) => member(i)) }), undefined)
})
