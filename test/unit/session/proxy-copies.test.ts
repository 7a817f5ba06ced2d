/**
 * The BackupManager's proxy copies (node/session/proxy-copies.ts), by themselves, with fake times:
 * a proxy is in use for PROXY_TTL_MS after its last use and among the MAX_PROXIES most recently
 * used; more asks for a repair pass; an entry that is no proxy any more is forgotten.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PlacementView } from '../../../node/session/placement.ts'
import { MAX_PROXIES, PROXY_TTL_MS, ProxyCopies } from '../../../node/session/proxy-copies.ts'

function proxies() {
  const notProxies = new Set<string>()
  const seen: PlacementView[] = []
  let tooMany = 0
  const copies = new ProxyCopies({
    isProxy: (key, view) => {
      seen.push(view)
      return !notProxies.has(key)
    },
    tooMany: () => {
      tooMany++
    },
  })
  return { copies, notProxies, seen, tooMany: () => tooMany }
}

const view = new PlacementView(['a', 'b'])

test('a proxy is in use for PROXY_TTL_MS after its last use, and a later use renews it', () => {
  const { copies } = proxies()
  copies.used('K1', 1_000)
  copies.used('K2', 2_000)
  assert.ok(copies.has('K1'))
  assert.equal(copies.expired(1_000 + PROXY_TTL_MS), false)
  assert.equal(copies.expired(1_000 + PROXY_TTL_MS + 1), true)
  assert.deepEqual(
    [...copies.inUse(view, 1_000 + PROXY_TTL_MS + 1)],
    [
      ['K1', false],
      ['K2', true],
    ],
  )
  assert.equal(copies.keeps('K1', 1_000 + PROXY_TTL_MS), true)
  assert.equal(copies.keeps('K1', 1_000 + PROXY_TTL_MS + 1), false)
  // Used again: the most recently used, and the oldest use is K2's.
  copies.used('K1', 3_000)
  assert.deepEqual(
    [...copies.inUse(view, 2_000 + PROXY_TTL_MS + 1)],
    [
      ['K2', false],
      ['K1', true],
    ],
  )
  assert.equal(copies.expired(2_000 + PROXY_TTL_MS), false)
  assert.equal(copies.keeps('K1', 3_000 + PROXY_TTL_MS), true)
})

test('no entry: nothing expired, nothing kept', () => {
  const { copies } = proxies()
  assert.equal(copies.expired(Number.MAX_SAFE_INTEGER), false)
  assert.equal(copies.keeps('K1', 0), false)
  assert.equal(copies.has('K1'), false)
  assert.equal(copies.forget('K1'), false)
})

test('forget drops the entry, and says whether there was one', () => {
  const { copies } = proxies()
  copies.used('K1', 0)
  assert.equal(copies.forget('K1'), true)
  assert.equal(copies.has('K1'), false)
  assert.equal(copies.forget('K1'), false)
  assert.equal(copies.keeps('K1', 0), false)
  assert.equal(copies.expired(PROXY_TTL_MS + 1), false)
})

test('beyond MAX_PROXIES: a pass is asked for, the least recently used are out of use, and none is kept', () => {
  const { copies, tooMany } = proxies()
  for (let i = 0; i < MAX_PROXIES; i++) copies.used(`K${i}`, i % 100)
  assert.equal(tooMany(), 0)
  copies.used('K0', 100) // a use again: not one more
  assert.equal(tooMany(), 0)
  copies.used('NEW1', 100)
  copies.used('NEW2', 100)
  assert.equal(tooMany(), 2)
  const now = 100
  const inUse = copies.inUse(view, now)
  assert.equal(inUse.size, MAX_PROXIES + 2)
  // The two least recently used (K1, K2: K0 was used again) are out of use though within their lifetime.
  assert.equal(inUse.get('K1'), false)
  assert.equal(inUse.get('K2'), false)
  assert.equal(inUse.get('K3'), true)
  assert.equal(inUse.get('K0'), true)
  assert.equal(inUse.get('NEW2'), true)
  assert.equal([...inUse.values()].filter((v) => !v).length, 2)
  // Too many: a copy repair decided to drop is not kept, however recent.
  assert.equal(copies.keeps('NEW2', now), false)
  copies.forget('K1')
  assert.equal(copies.keeps('NEW2', now), false)
  copies.forget('K2')
  assert.equal(copies.keeps('NEW2', now), true)
})

test('inUse forgets the entries that are no proxy under the view it is given', () => {
  const { copies, notProxies, seen } = proxies()
  copies.used('K1', 0)
  copies.used('K2', 0)
  copies.used('K3', 0)
  notProxies.add('K2')
  const inUse = copies.inUse(view, 0)
  assert.deepEqual([...inUse.keys()], ['K1', 'K3'])
  assert.equal(copies.has('K2'), false)
  assert.ok(seen.every((v) => v === view))
  assert.equal(seen.length, 3)
})
