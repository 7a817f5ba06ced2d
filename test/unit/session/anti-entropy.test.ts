/**
 * Anti-entropy's pure parts (node/session/anti-entropy.ts): which copies a pair of owners compares,
 * what a digest says about them, what an answer carries and what its receiver does with it.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import pino from 'pino'
import type { DigestMessage } from '../../../node/session/anti-entropy.ts'
import {
  AntiEntropy,
  bucketOf,
  bucketsToAnswer,
  compareAnswer,
  copiesIn,
  DIGEST_BUCKETS,
  differingBuckets,
  digests,
  type Held,
  type HeldRank,
  MAX_DIGEST_KEYS,
  type Walk,
} from '../../../node/session/anti-entropy.ts'
import { newMessageCounts, SESSION_MESSAGE } from '../../../node/session/messages.ts'
import { PlacementView } from '../../../node/session/placement.ts'
import { writerOf } from '../../../node/session/rank.ts'
import { lonelyChannel, peer } from '../../helpers/managers.ts'

const copies = (n: number, version = 1): HeldRank[] =>
  Array.from({ length: n }, (_, i) => ({ key: `K${i.toString(16).padStart(8, '0')}`, version, writer: 'w1' }))

/** Copies as a manager's store holds them (by key; none expired, unless named). */
const held = (list: HeldRank[], expired: ReadonlySet<string> = new Set()): Held =>
  list.map((c) => [c.key, { ...c, isExpired: () => expired.has(c.key) }] as const)

/** The digest of the copies `list` (two members, both hold all). */
async function digestOf(list: HeldRank[]): Promise<Uint32Array | undefined> {
  const view = new PlacementView(['a', 'b'])
  return (await digests(walkOf(view, 'a', held(list)), 'b')).get('b')?.sums
}

/** A walk for member `self` of `view`, each session held by 2 members. */
const walkOf = (view: PlacementView, self: string, h: Held): Walk => ({
  view,
  ownersOf: (v, k) => v.owners(k, 2),
  self,
  held: h,
})

test('the same copies give the same digest whatever their order', async () => {
  const list = copies(500)
  assert.deepEqual(await digestOf(list), await digestOf([...list].reverse()))
})

test('a missing copy, or one at another rank, changes only its own bucket', async () => {
  const list = copies(500)
  const [first, ...rest] = list as [HeldRank, ...HeldRank[]]
  const sums = (await digestOf(list)) as Uint32Array
  assert.deepEqual(differingBuckets(sums, (await digestOf(rest)) as Uint32Array), [bucketOf(first.key)])
  const older = [{ ...first, version: 2 }, ...rest]
  assert.deepEqual(differingBuckets(sums, (await digestOf(older)) as Uint32Array), [bucketOf(first.key)])
  const otherWriter = [{ ...first, writer: 'w2' }, ...rest]
  assert.deepEqual(differingBuckets(sums, (await digestOf(otherWriter)) as Uint32Array), [
    bucketOf(first.key),
  ])
})

test('a member compares with a peer only the copies both own, and leaves out those expired idle', async () => {
  const view = new PlacementView(['a', 'b', 'c', 'd'])
  const list = copies(400)
  const owned = list.filter((c) => view.owners(c.key, 2).includes('a'))
  const byPeer = (p: string) => owned.filter((c) => view.owners(c.key, 2).includes(p))
  const all = await digests(walkOf(view, 'a', held(list)))
  assert.deepEqual([...all.keys()].sort(), ['b', 'c', 'd'])
  for (const p of ['b', 'c', 'd']) {
    assert.deepEqual(all.get(p)?.sums, await digestOf(byPeer(p)), `the copies shared with ${p}`)
    const counts = all.get(p)?.counts ?? []
    assert.equal(
      [...counts].reduce((x, y) => x + y, 0),
      byPeer(p).length,
    )
  }
  const onlyB = await digests(walkOf(view, 'a', held(list)), 'b')
  assert.deepEqual([...onlyB.keys()], ['b'])
  assert.deepEqual(onlyB.get('b'), all.get('b'), 'the same for one peer')
  const gone = new Set([(byPeer('b')[0] as HeldRank).key])
  const withExpired = await digests(walkOf(view, 'a', held(list, gone)), 'b')
  assert.deepEqual(
    withExpired.get('b')?.sums,
    await digestOf(byPeer('b').slice(1)),
    'an expired copy is left out',
  )
  const buckets = new Set(
    byPeer('b')
      .slice(0, 5)
      .map((c) => bucketOf(c.key)),
  )
  const inBuckets = await copiesIn(walkOf(view, 'a', held(list)), 'b', buckets)
  assert.deepEqual(
    inBuckets.map((c) => c.key).sort(),
    byPeer('b')
      .filter((c) => buckets.has(bucketOf(c.key)))
      .map((c) => c.key)
      .sort(),
  )
})

test('an answer carries whole buckets, at most MAX_DIGEST_KEYS keys, and at least one bucket', () => {
  const counts = new Uint32Array(DIGEST_BUCKETS).fill(100)
  const all = Array.from({ length: DIGEST_BUCKETS }, (_, b) => b)
  const buckets = bucketsToAnswer(all, counts)
  assert.equal(buckets.length, Math.floor(MAX_DIGEST_KEYS / 100))
  assert.deepEqual(buckets, all.slice(0, buckets.length), 'in the order given')
  counts[7] = MAX_DIGEST_KEYS * 2
  assert.deepEqual(bucketsToAnswer([7, 8], counts), [7], 'one bucket, however large')
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
    logger: pino({ level: 'silent' }),
    interval: 0,
    due: () => true,
    sent,
    ownersOf: (v, k) => v.owners(k, 2),
    self: () => writerOf(channel.localMember),
    view: () => view,
    ready: () => true,
    held: () => held(copies(10)),
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
