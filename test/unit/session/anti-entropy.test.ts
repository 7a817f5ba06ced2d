/**
 * Anti-entropy's pure parts (node/session/anti-entropy.ts): which copies a pair of owners compares,
 * what a digest says about them, what an answer carries and what its receiver does with it.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { DigestMessage } from '../../../node/session/anti-entropy.ts'
import {
  AntiEntropy,
  answerFor,
  bucketOf,
  compareAnswer,
  DIGEST_BUCKETS,
  differingBuckets,
  digestOf,
  type HeldRank,
  MAX_DIGEST_KEYS,
  sharedCopies,
} from '../../../node/session/anti-entropy.ts'
import { newMessageCounts, SESSION_MESSAGE } from '../../../node/session/messages.ts'
import { PlacementView } from '../../../node/session/placement.ts'
import { writerOf } from '../../../node/session/rank.ts'
import { lonelyChannel, peer } from '../../helpers/managers.ts'

const copies = (n: number, version = 1): HeldRank[] =>
  Array.from({ length: n }, (_, i) => ({ key: `K${i.toString(16).padStart(8, '0')}`, version, writer: 'w1' }))

test('the same copies give the same digest whatever their order', () => {
  const list = copies(500)
  assert.deepEqual(digestOf(list), digestOf([...list].reverse()))
})

test('a missing copy, or one at another rank, changes only its own bucket', () => {
  const list = copies(500)
  const [first, ...rest] = list as [HeldRank, ...HeldRank[]]
  assert.deepEqual(differingBuckets(digestOf(list), digestOf(rest)), [bucketOf(first.key)])
  const older = [{ ...first, version: 2 }, ...rest]
  assert.deepEqual(differingBuckets(digestOf(list), digestOf(older)), [bucketOf(first.key)])
  const otherWriter = [{ ...first, writer: 'w2' }, ...rest]
  assert.deepEqual(differingBuckets(digestOf(list), digestOf(otherWriter)), [bucketOf(first.key)])
})

test('a member compares with a peer only the copies both own', async () => {
  const view = new PlacementView(['a', 'b', 'c', 'd'])
  const list = copies(400)
  const shared = await sharedCopies(view, (v, k) => v.owners(k, 2), 'a', list)
  for (const [peer, held] of shared) {
    assert.ok(peer !== 'a')
    for (const c of held) assert.deepEqual(view.owners(c.key, 2).sort(), ['a', peer].sort())
  }
  const owned = list.filter((c) => view.owners(c.key, 2).includes('a'))
  assert.equal(
    [...shared.values()].reduce((n, l) => n + l.length, 0),
    owned.length,
    'each owned copy, once per other owner',
  )
  assert.deepEqual(
    (await sharedCopies(view, (v, k) => v.owners(k, 2), 'a', list, 'b')).get('b'),
    shared.get('b'),
    'the same for one peer',
  )
  assert.equal((await sharedCopies(view, (v, k) => v.owners(k, 2), 'a', list, 'b')).size, 1)
})

test('an answer carries whole buckets, at most MAX_DIGEST_KEYS keys, and at least one bucket', () => {
  const list = copies(MAX_DIGEST_KEYS * 2)
  const all = Array.from({ length: DIGEST_BUCKETS }, (_, b) => b)
  const answer = answerFor(list, all)
  assert.ok(answer.copies.length <= MAX_DIGEST_KEYS, `${answer.copies.length} keys`)
  assert.ok(answer.buckets.length > 0 && answer.buckets.length < DIGEST_BUCKETS)
  const inBuckets = list.filter((c) => answer.buckets.includes(bucketOf(c.key)))
  assert.equal(answer.copies.length, inBuckets.length, 'every copy of the buckets it names')
  const one = answerFor(list.slice(0, 1), [bucketOf((list[0] as HeldRank).key)])
  assert.equal(one.copies.length, 1)
})

test('an answer makes the digest sender push what the answerer lacks or holds older, and end what ended here', () => {
  const [a, b, c, d] = copies(4) as [HeldRank, HeldRank, HeldRank, HeldRank]
  const buckets = [...new Set([a, b, c, d].map((x) => bucketOf(x.key)))]
  const mine = [a, { ...b, version: 3 }, c]
  // The answerer lacks a, holds b older, c at the same rank, and d which ended here.
  const theirs = [b, c, d]
  const result = compareAnswer(mine, buckets, theirs, (key) => key === d.key)
  assert.deepEqual(result.push.sort(), [a.key, b.key].sort())
  assert.deepEqual(result.ended, [d.key])
  // A copy the answerer holds newer is not pushed back, nor one in a bucket it did not answer for.
  assert.deepEqual(compareAnswer([a], buckets, [{ ...a, version: 2 }], () => false).push, [])
  const elsewhere = (bucketOf(a.key) + 1) % DIGEST_BUCKETS
  assert.deepEqual(compareAnswer([a], [elsewhere], [], () => false).push, [])
})

test('a malformed digest or answer is refused with what is wrong, and nothing is sent', async () => {
  const channel = lonelyChannel()
  const from = peer('n2')
  const view = new PlacementView([writerOf(channel.localMember), writerOf(from)])
  const sent = newMessageCounts()
  const ae = new AntiEntropy({
    channel,
    contextPath: '/app',
    sent,
    ownersOf: (v, k) => v.owners(k, 2),
    self: () => writerOf(channel.localMember),
    view: () => view,
    ready: () => true,
    held: () => copies(10),
    isGone: () => false,
    member: () => from,
    push: async () => new Set(),
  })
  const base = { k: SESSION_MESSAGE, ctx: '/app', view: 0 } as const
  await assert.rejects(
    ae.receive({ ...base, type: 'digest', sums: [1, 2, 3] } as DigestMessage, from),
    /malformed digest message: sums must be 256 numbers/,
  )
  const answer = { ...base, type: 'digest-keys', buckets: [1], keys: ['K1'], versions: [1], writers: ['w'] }
  await assert.rejects(
    ae.receive({ ...answer, keys: 'K1' } as unknown as DigestMessage, from),
    /keys, versions and writers must be lists/,
  )
  await assert.rejects(
    ae.receive({ ...answer, buckets: [256] } as DigestMessage, from),
    /buckets must be integers from 0 to 255/,
  )
  await assert.rejects(
    ae.receive({ ...answer, versions: [1, 2] } as DigestMessage, from),
    /as long as each other/,
  )
  await assert.rejects(
    ae.receive({ ...answer, versions: ['1'] } as unknown as DigestMessage, from),
    /entry 0 must be a key, an integer version and a writer/,
  )
  assert.equal(
    Object.values(sent).reduce((a, b) => a + b, 0),
    0,
    'nothing sent',
  )
})
