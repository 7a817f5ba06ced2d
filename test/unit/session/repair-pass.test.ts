/**
 * The BackupManager's repair passes (node/session/repair-pass.ts), by themselves: what a pass sends
 * and drops, what it sends again, when the view becomes the base of comparison, and when the tick
 * runs a pass.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep, setImmediate as turn } from 'node:timers/promises'
import pino from 'pino'
import { PlacementView } from '../../../node/session/placement.ts'
import { writerOf } from '../../../node/session/rank.ts'
import { RepairPass } from '../../../node/session/repair-pass.ts'
import type { Member } from '../../../node/tribes/member.ts'
import { peer } from '../../helpers/managers.ts'

const SELF = 'self0000'

/** A repair pass over a view of this member and three others, holding the copies `held` picks. */
function harness(held: (keys: ReturnType<typeof split>) => string[] = () => []) {
  const peers = ['a', 'b', 'c'].map((n) => peer(n))
  const byId = new Map(peers.map((m) => [writerOf(m), m]))
  const view = new PlacementView([SELF, ...byId.keys()])
  const keys = split(view)
  const store = new Set(held(keys))
  const pushes: Array<{ to: string; keys: string[] }> = []
  /** Members (writer ids) whose pushes fail. */
  const refusing = new Set<string>()
  const dropped: string[] = []
  const counters = { repairPasses: 0, lastRepairMs: 0 }
  let expired = false
  const repair = new RepairPass({
    logger: pino({ level: 'silent' }),
    copies: 2,
    self: () => SELF,
    view: () => view,
    member: (id) => byId.get(id),
    keys: () => store.values(),
    push: async (to: Member, keys: Iterable<string>) => {
      const list = [...keys]
      pushes.push({ to: writerOf(to), keys: list })
      return refusing.has(writerOf(to)) ? new Set<string>() : new Set(list)
    },
    proxiesInUse: () => new Map(),
    proxyExpired: () => expired,
    drop: (key) => {
      dropped.push(key)
      return store.delete(key)
    },
    counters,
  })
  /** Runs `start` (which asks for a pass) and waits for that pass to end. */
  const pass = async (start = () => repair.runSoon()) => {
    counters.lastRepairMs = -1
    start()
    while (counters.lastRepairMs === -1) await sleep(1)
    await turn()
  }
  const expire = () => {
    expired = true
  }
  return { repair, view, keys, store, pushes, refusing, dropped, counters, pass, expire }
}

/** Keys this member owns, and keys it does not, under `view` (1 + 1 copies). */
function split(view: PlacementView) {
  const keys = Array.from({ length: 40 }, (_, i) => `K${i.toString().padStart(4, '0')}`)
  const owned = keys.filter((k) => view.owners(k, 2).includes(SELF)).slice(0, 3)
  const other = keys.filter((k) => !view.owners(k, 2).includes(SELF)).slice(0, 3)
  return { owned, other }
}

const sentTo = (pushes: Array<{ to: string; keys: string[] }>) =>
  pushes.flatMap((p) => p.keys.map((k) => `${k}>${p.to}`)).sort()

test('without a settled view, a pass sends each copy to its other owners and drops those it does not own', async () => {
  const t = harness(({ owned, other }) => [...owned, ...other])
  const { owned, other } = t.keys
  await t.pass()
  const expected = [...owned, ...other].flatMap((k) =>
    t.view
      .owners(k, 2)
      .filter((id) => id !== SELF)
      .map((id) => `${k}>${id}`),
  )
  assert.deepEqual(sentTo(t.pushes), expected.sort())
  assert.deepEqual(t.dropped.sort(), [...other].sort(), 'only copies it does not own, once confirmed')
  assert.deepEqual([...t.store].sort(), [...owned].sort())
  assert.equal(t.counters.repairPasses, 1)
  assert.ok(t.counters.lastRepairMs >= 0)
  assert.equal(t.repair.settledView, undefined, 'the view has not held SETTLE_MS yet')
  assert.ok(!t.repair.settled())
})

test('a push that failed is sent again at the next pass, and its copy kept until then', async () => {
  const t = harness(({ other }) => other.slice(0, 1))
  const key = t.keys.other[0] as string
  const [first, second] = t.view.owners(key, 2) as [string, string]
  t.refusing.add(second)
  await t.pass()
  assert.deepEqual(sentTo(t.pushes), [`${key}>${first}`, `${key}>${second}`].sort())
  assert.deepEqual(t.dropped, [], 'not every owner confirmed it')
  t.refusing.clear()
  t.pushes.length = 0
  await t.pass()
  assert.deepEqual(sentTo(t.pushes), [`${key}>${second}`], 'only to the owner that lacks it')
  assert.deepEqual(t.dropped, [key])
})

test('a copy whose last write every owner acknowledged under this view is dropped without a push', async () => {
  const t = harness(({ other }) => other.slice(0, 2))
  const [confirmed, unconfirmed] = t.keys.other as [string, string]
  t.repair.confirm(confirmed)
  t.repair.confirm(unconfirmed)
  t.repair.unconfirm(unconfirmed)
  await t.pass()
  assert.ok(!t.pushes.some((p) => p.keys.includes(confirmed)))
  assert.ok(t.pushes.some((p) => p.keys.includes(unconfirmed)))
  assert.deepEqual(t.dropped.sort(), [confirmed, unconfirmed].sort())
})

test('a view that held SETTLE_MS becomes the base; the tick then runs a pass only when one is due', async (c) => {
  c.mock.timers.enable({ apis: ['Date'], now: 1_000_000 })
  const t = harness()
  t.repair.start()
  await t.pass()
  assert.equal(t.repair.settledView, undefined)
  c.mock.timers.tick(3_000)
  await t.pass(() => t.repair.tick(Date.now()))
  assert.equal(t.repair.settledView, t.view)
  assert.ok(t.repair.settled())
  t.repair.tick(Date.now())
  await sleep(20)
  assert.equal(t.counters.repairPasses, 2, 'nothing due')
  await t.pass(() => t.repair.tick(Date.now() + 30_001))
  assert.equal(t.counters.repairPasses, 3, 'a full pass at least every FULL_PASS_MS')
  t.expire()
  await t.pass(() => t.repair.tick(Date.now()))
  assert.equal(t.counters.repairPasses, 4, 'a proxy past its lifetime')
  t.repair.retryLater('K0001', 'x')
  assert.ok(!t.repair.settled(), 'a push waits to be sent again')
})

test('no pass starts once stopped', async () => {
  const t = harness()
  await t.repair.stop()
  t.repair.runSoon()
  t.repair.viewChanged()
  await sleep(300)
  assert.equal(t.counters.repairPasses, 0)
  assert.ok(!t.repair.settled())
})
