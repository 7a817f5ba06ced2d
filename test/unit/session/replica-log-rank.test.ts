/**
 * The convergence rule in the replica log (rank.ts): a table of single changes against a held copy,
 * and random interleavings of concurrent writers on three members that must all end on the
 * highest-ranked state, with the same content.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import pino from 'pino'
import { SESSION_MESSAGE } from '../../../node/session/messages.ts'
import { compareRank, type Rank } from '../../../node/session/rank.ts'
import { type Change, ReplicaLog } from '../../../node/session/replica-log.ts'
import { createLocalMember, type Member } from '../../../node/tribes/member.ts'

const peer = createLocalMember({ host: '127.0.0.1', port: 1, name: 'p1' })

/** A copy: its rank and its content (the history of versions that made it). */
interface Copy extends Rank {
  id: string
  version: number
  writer: string
  value: string
}

const change = (v: number, w: string, b: string | undefined, value = ''): Change & { value: string } => ({
  k: SESSION_MESSAGE,
  type: 'delta',
  ctx: '/app',
  id: 'S1.a',
  v,
  w,
  ...(b === undefined ? {} : { b }),
  a: 0,
  actions: [],
  value,
})

/** One member's log over one session; `fetched` records what it asked for. */
function member(held: Copy | undefined, fetch: (want: Rank, from: Member) => void = () => {}) {
  const copies = new Map<string, Copy>()
  if (held) copies.set('S1', held)
  const log = new ReplicaLog<Copy>({
    replicas: {
      find: () => copies.get('S1'),
      apply: (c, ch) => {
        c.version = ch.v
        c.writer = ch.w ?? ''
        c.value = (ch as Change & { value: string }).value
      },
      fetch: (_id, want, from) => fetch(want, from),
      remove: () => void copies.delete('S1'),
    },
    logger: pino({ level: 'silent' }),
    transferring: () => false,
    holdTimeoutMs: 0,
  })
  const install = (c: Copy) => {
    if (!log.admits(c.id, c, copies.get('S1'))) return false
    copies.set('S1', { ...c })
    log.installed(c.id)
    return true
  }
  return { log, copies, install }
}

const held = (version: number, writer: string): Copy => ({ id: 'S1.a', version, writer, value: 'held' })

test('a change against the copy held (5 made by bb): applied, dropped, held, or the copy fetched — by rank', () => {
  const table: Array<[string, Change & { value: string }, 'applied' | 'dropped' | 'held' | 'fetched']> = [
    ['the next version, based on the copy held', change(6, 'aa', 'bb'), 'applied'],
    [
      'the next version from a member that predates the rule (no base)',
      change(6, 'aa', undefined),
      'applied',
    ],
    ['the next version based on another branch', change(6, 'aa', 'cc'), 'fetched'],
    ['the same version by a higher writer', change(5, 'cc', 'dd'), 'fetched'],
    ['the same version by the same writer (a duplicate)', change(5, 'bb', 'aa'), 'dropped'],
    ['the same version by a lower writer (the loser)', change(5, 'aa', 'dd'), 'dropped'],
    ['an older version', change(4, 'ff', 'aa'), 'dropped'],
    ['a version after a gap', change(8, 'aa', 'aa'), 'held'],
  ]
  for (const [what, ch, expected] of table) {
    const fetched: Rank[] = []
    const m = member(held(5, 'bb'), (want) => fetched.push(want))
    m.log.change(ch, peer)
    const copy = m.copies.get('S1') as Copy
    const outcome = m.log.counters.droppedDuplicates
      ? 'dropped'
      : fetched.length
        ? 'fetched'
        : m.log.held
          ? 'held'
          : copy.version === ch.v && copy.writer === ch.w
            ? 'applied'
            : 'none'
    assert.equal(outcome, expected, what)
    if (expected === 'fetched') {
      assert.deepEqual(fetched, [{ version: ch.v, writer: ch.w }], `${what}: asks for at least its rank`)
      assert.equal(m.log.counters.conflicts, 1)
      assert.deepEqual(
        { version: copy.version, writer: copy.writer },
        { version: 5, writer: 'bb' },
        `${what}: not applied`,
      )
    }
  }
})

test('a full copy is installed only when it ranks higher than the copy held', () => {
  const table: Array<[Copy, boolean]> = [
    [held(6, 'aa'), true],
    [held(5, 'cc'), true],
    [held(5, 'bb'), false],
    [held(5, 'aa'), false],
    [held(4, 'ff'), false],
  ]
  for (const [copy, installed] of table) {
    const m = member(held(5, 'bb'))
    assert.equal(m.install(copy), installed, `${copy.version}.${copy.writer} over 5.bb`)
  }
})

test('a change held for a conflict is dropped once the fetched copy that outranks it is installed', () => {
  const m = member(held(5, 'bb'))
  m.log.change(change(6, 'cc', 'aa', 'theirs'), peer)
  assert.equal(m.log.held, 1)
  assert.equal(m.install({ id: 'S1.a', version: 6, writer: 'cc', value: 'theirs' }), true)
  assert.equal(m.log.held, 0)
  assert.equal(m.copies.get('S1')?.value, 'theirs')
})

/** A small deterministic PRNG (mulberry32), so a failing seed can be replayed. */
function prng(seed: number) {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

test('concurrent writers on three members, messages delivered in any order: once quiet, every member holds the highest-ranked state, with the same content', () => {
  const writers = ['a1', 'b2', 'c3']
  let conflicts = 0
  for (let seed = 1; seed <= 300; seed++) {
    const random = prng(seed)
    const members = writers.map((w) => ({
      w,
      me: createLocalMember({ host: '127.0.0.1', port: 1, name: w }),
      node: undefined as unknown as ReturnType<typeof member>,
    }))
    /** Messages in flight: delivered in random order (the worst case; TCP keeps order per pair). */
    const inFlight: Array<() => void> = []
    const byName = new Map(members.map((m) => [m.me.name, m]))
    for (const m of members) {
      m.node = member({ id: 'S1.a', version: 1, writer: 'a1', value: '1a1' }, (want, from) => {
        // The fetched copy comes from the member that sent the change, as it holds it on arrival.
        const source = byName.get(from.name)
        inFlight.push(() => {
          const copy = source?.node.copies.get('S1') as Copy
          assert.ok(compareRank(copy, want) >= 0, 'a writer holds at least what it wrote')
          m.node.install({ ...copy })
        })
      })
    }
    let highest: Rank = { version: 1, writer: 'a1' }
    for (let step = 0; step < 12; step++) {
      const m = members[Math.floor(random() * members.length)] as (typeof members)[number]
      const copy = m.node.copies.get('S1') as Copy
      const base = copy.writer
      copy.version++
      copy.writer = m.w
      copy.value = `${copy.value},${copy.version}${m.w}`
      if (compareRank(copy, highest) > 0) highest = { version: copy.version, writer: copy.writer }
      const ch = change(copy.version, m.w, base, copy.value)
      for (const other of members)
        if (other !== m) inFlight.push(() => other.node.log.change({ ...ch }, m.me))
      // Deliver some of what is in flight before the next write.
      for (let k = Math.floor(random() * 3); k > 0 && inFlight.length; k--)
        inFlight.splice(Math.floor(random() * inFlight.length), 1)[0]?.()
    }
    for (let round = 0; round < 20 && (inFlight.length || members.some((m) => m.node.log.held)); round++) {
      while (inFlight.length) inFlight.splice(Math.floor(random() * inFlight.length), 1)[0]?.()
      for (const m of members) m.node.log.settle() // the hold timeout passes
    }
    for (const m of members) conflicts += m.node.log.counters.conflicts
    const finals = members.map((m) => m.node.copies.get('S1') as Copy)
    for (const f of finals) {
      assert.deepEqual({ version: f.version, writer: f.writer }, highest, `seed ${seed}`)
      assert.equal(f.value, (finals[0] as Copy).value, `seed ${seed}: the same content everywhere`)
    }
  }
  assert.ok(conflicts > 100, `the interleavings conflicted (${conflicts} conflicts), else this proves little`)
})
