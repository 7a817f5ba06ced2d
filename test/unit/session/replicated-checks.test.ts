/**
 * Replicated data obeys the limits of local writes (issue 12, part 3): each bad copy or change is
 * refused with its reason, counted, logged with its sender, and leaves the session held as it was.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import pino from 'pino'
import type { ManagerMessage } from '../../../node/session/cluster-manager.ts'
import { DeltaManager } from '../../../node/session/delta-manager.ts'
import { SESSION_MESSAGE } from '../../../node/session/messages.ts'
import { writerOf } from '../../../node/session/rank.ts'
import { checkCopy, UNKNOWN_SIZE } from '../../../node/session/replicated-checks.ts'
import type { SessionData } from '../../../node/session/session.ts'
import type { Channel } from '../../../node/tribes/channel-types.ts'
import { encode } from '../../../node/tribes/codec.ts'
import { describeMember, type Member } from '../../../node/tribes/member.ts'
import { lonelyChannel, managerSettings, viewChannel, peer as viewPeer } from '../../helpers/managers.ts'

const peer = {
  name: 'p1',
  host: '127.0.0.9',
  port: 4009,
  uniqueId: 'u',
  startTime: 0,
  ready: true,
} as unknown as Member

const ID = '0123456789ABCDEF0123456789ABCDEF.p1'
const nested = (depth: number): unknown => {
  let v: unknown = 'leaf'
  for (let i = 0; i < depth; i++) v = { v }
  return v
}

async function manager(o: { maxActiveSessions?: number; channel?: Channel } = {}) {
  const lines: Array<Record<string, unknown>> = []
  const logger = pino({ level: 'warn' }, { write: (l: string) => void lines.push(JSON.parse(l)) })
  const { type: _type, ...settings } = managerSettings({
    maxActiveSessions: o.maxActiveSessions ?? -1,
    notifyListenersOnReplication: true,
    policy: { maxAttributes: 8, maxValueDepth: 64, maxInactiveInterval: 86_400 },
  })
  const m = new DeltaManager({
    ...settings,
    contextPath: '/app',
    logger,
    channel: o.channel ?? lonelyChannel(),
    replication: { maxVersionStep: 100, maxClockSkewMs: 5000 },
  })
  await m.start()
  return { m, lines }
}

const copy = (p: Partial<SessionData> = {}): SessionData => ({
  id: ID,
  creationTime: Date.now() - 1000,
  lastAccessedTime: Date.now() - 1000,
  maxInactiveInterval: 1800,
  principal: undefined,
  authType: undefined,
  version: 1,
  attributes: [['cart', ['apple']]],
  ...p,
})
const created = (p: Partial<SessionData> = {}): ManagerMessage => ({
  k: SESSION_MESSAGE,
  type: 'created',
  ctx: '/app',
  session: copy(p),
})
const delta = (v: number, actions: unknown[], a = Date.now()): ManagerMessage =>
  ({ k: SESSION_MESSAGE, type: 'delta', ctx: '/app', id: ID, v, a, actions }) as ManagerMessage

/** A cluster member's view of the session: everything a request or the admin server could see. */
const seen = (m: DeltaManager, id = ID) => {
  const s = m.peekSession(id)
  return s && { ...s.toData(), size: s.size }
}

// [what, message that must be refused, reason]
const refusedChanges: Array<[string, () => ManagerMessage, string]> = [
  [
    'an attribute over maxAttributeSize',
    () => delta(2, [['set', 'big', 'x'.repeat(2000)]]),
    'attribute-too-large',
  ],
  ['a value nested 3,000 deep', () => delta(2, [['set', 'deep', nested(3000)]]), 'too-deep'],
  ['a value nested 65 deep', () => delta(2, [['set', 'deep', nested(65)]]), 'too-deep'],
  [
    'attributes that together pass maxSessionSize',
    () =>
      delta(
        2,
        [1, 2, 3, 4, 5].map((i) => ['set', `a${i}`, 'x'.repeat(1000)]),
      ),
    'session-too-large',
  ],
  [
    'more attributes than maxAttributes',
    () =>
      delta(
        2,
        Array.from({ length: 8 }, (_, i) => ['set', `n${i}`, i]),
      ),
    'too-many-attributes',
  ],
  ['an empty attribute name', () => delta(2, [['set', '', 1]]), 'attribute-name'],
  ['a version jump beyond maxVersionStep', () => delta(102, [['set', 'cart', []]]), 'version'],
  ['a version that is not a safe integer', () => delta(2 ** 53, [['set', 'cart', []]]), 'malformed'],
  ['an access time in the future', () => delta(2, [['set', 'cart', []]], Date.now() + 60_000), 'future-time'],
  [
    'a max inactive interval beyond the bound',
    () => delta(2, [['maxInactive', 86_401]]),
    'inactive-interval',
  ],
  ['an immortal max inactive interval', () => delta(2, [['maxInactive', -1]]), 'inactive-interval'],
  ['a fractional max inactive interval', () => delta(2, [['maxInactive', 1.5]]), 'inactive-interval'],
  [
    'a merged delta whose base is not below its version',
    () => ({ ...delta(2, [['set', 'cart', []]]), p: 2 }) as ManagerMessage,
    'malformed',
  ],
  [
    'a merged delta whose base is not a version',
    () => ({ ...delta(2, [['set', 'cart', []]]), p: -1 }) as ManagerMessage,
    'malformed',
  ],
  ['an unknown action', () => delta(2, [['chmod', 'cart']]), 'malformed'],
  ['a principal that is not a string', () => delta(2, [['principal', { admin: true }, 'FORM']]), 'malformed'],
  [
    'an access time in the future',
    () => ({ k: SESSION_MESSAGE, type: 'accessed', ctx: '/app', id: ID, a: Date.now() + 3_600_000 }),
    'future-time',
  ],
  [
    'an access time that is not a number',
    () =>
      ({ k: SESSION_MESSAGE, type: 'accessed', ctx: '/app', id: ID, a: 'soon' }) as unknown as ManagerMessage,
    'malformed',
  ],
  [
    'a created session replacing the held one with a huge version',
    () => created({ version: 2 ** 53 - 1 }),
    'version',
  ],
  ['a created session with version 2', () => created({ version: 2 }), 'version'],
]

describe('replicated changes to a held session are checked like local writes', () => {
  for (const [what, message, reason] of refusedChanges) {
    it(`refuses ${what} (${reason}), counts it, logs the sender, and leaves the session as it was`, async () => {
      const { m, lines } = await manager()
      m.receive(created(), peer)
      const before = seen(m)
      assert.ok(before, 'the created session was installed')
      m.receive(message() as never, peer)
      await new Promise((r) => setTimeout(r, 5))
      assert.deepEqual(seen(m), before)
      assert.deepEqual(m.stats().refused, { [reason]: 1 })
      const line = lines.find((l) => l.event === 'replication-refused')
      assert.equal(line?.reason, reason)
      assert.equal(line?.from, 'p1@127.0.0.9:4009')
      await m.stop()
    })
  }

  it('applies a change within every limit, and keeps the session size it checked', async () => {
    const { m } = await manager()
    m.receive(created(), peer)
    m.receive(
      delta(2, [
        ['set', 'cart', ['apple', 'pear']],
        ['set', 'deep', nested(60)],
        ['maxInactive', 600],
      ]) as never,
      peer,
    )
    const s = m.peekSession(ID)
    assert.deepEqual(s?.get('cart'), ['apple', 'pear'])
    assert.equal(s?.maxInactiveInterval, 600)
    assert.equal(s?.version, 2)
    const size = s?.size
    s?.knownSize(-1) // forget it: computed again from the attributes, it is the same
    assert.equal(s?.size, size)
    assert.deepEqual(m.stats().refused, {})
    await m.stop()
  })

  it('accepts an access time within the clock-skew allowance', async () => {
    const { m } = await manager()
    m.receive(created(), peer)
    const a = Date.now() + 2000
    m.receive({ k: SESSION_MESSAGE, type: 'accessed', ctx: '/app', id: ID, a }, peer)
    assert.equal(m.peekSession(ID)?.lastAccessedTime, a)
    await m.stop()
  })

  it('refuses a change of id onto another session held here', async () => {
    const { m } = await manager()
    const other = 'FEDCBA9876543210FEDCBA9876543210.p1'
    m.receive(created(), peer)
    m.receive(created({ id: other, attributes: [['owner', 'victim']] }), peer)
    const before = [seen(m), seen(m, other)]
    m.receive({ k: SESSION_MESSAGE, type: 'change-id', ctx: '/app', id: ID, newId: other, v: 2 }, peer)
    assert.deepEqual([seen(m), seen(m, other)], before)
    assert.deepEqual(m.stats().refused, { 'id-in-use': 1 })
    await m.stop()
  })
})

// [what, copy that must be refused as a new session, reason]
const refusedCopies: Array<[string, () => ManagerMessage, string]> = [
  [
    'an attribute over maxAttributeSize',
    () => created({ attributes: [['big', 'x'.repeat(2000)]] }),
    'attribute-too-large',
  ],
  ['a value nested 3,000 deep', () => created({ attributes: [['deep', nested(3000)]] }), 'too-deep'],
  [
    'a session over maxSessionSize',
    () => created({ attributes: [1, 2, 3, 4, 5].map((i) => [`a${i}`, 'x'.repeat(1000)]) }),
    'session-too-large',
  ],
  [
    'more attributes than maxAttributes',
    () => created({ attributes: Array.from({ length: 9 }, (_, i) => [`n${i}`, i]) }),
    'too-many-attributes',
  ],
  ['an immortal max inactive interval', () => created({ maxInactiveInterval: -1 }), 'inactive-interval'],
  [
    'a max inactive interval beyond the bound',
    () => created({ maxInactiveInterval: 10 ** 9 }),
    'inactive-interval',
  ],
  ['a last access in the future', () => created({ lastAccessedTime: Date.now() + 3_600_000 }), 'future-time'],
  ['a version that is not 1', () => created({ version: 7 }), 'version'],
  ['an id that is not an id', () => created({ id: '../../etc/passwd' }), 'malformed'],
  ['attributes that are not pairs', () => created({ attributes: 'all of them' as never }), 'malformed'],
  ['no creation time', () => created({ creationTime: 'yesterday' as never }), 'malformed'],
]

describe('replicated copies of sessions are checked like local writes', () => {
  for (const [what, message, reason] of refusedCopies) {
    it(`refuses a created session with ${what} (${reason}) and holds nothing`, async () => {
      const { m } = await manager()
      m.receive(message() as never, peer)
      assert.equal(m.sessionCount(), 0)
      assert.deepEqual(m.stats().refused, { [reason]: 1 })
      await m.stop()
    })
  }

  it('refuses a new session beyond maxActiveSessions, but still takes a newer copy of a held one', async () => {
    const { m } = await manager({ maxActiveSessions: 1 })
    m.receive(created(), peer)
    m.receive(created({ id: 'FEDCBA9876543210FEDCBA9876543210.p1' }), peer)
    assert.equal(m.sessionCount(), 1)
    assert.deepEqual(m.stats().refused, { 'too-many-sessions': 1 })
    await m.stop()
  })

  it('does not relay what it refused at once to a joiner', async () => {
    const { m } = await manager()
    assert.equal(m.receive(created({ version: 9 }), peer, 2), undefined)
    await m.stop()
  })
})

describe('a state-transfer copy that came encoded on its own', () => {
  const limits = {
    maxAttributeSize: 1024,
    maxSessionSize: 4096,
    maxAttributes: 8,
    maxValueDepth: 64,
    maxInactiveInterval: 86_400,
    maxVersionStep: 100,
    maxClockSkewMs: 5000,
    maxActiveSessions: -1,
  }
  const check = (d: SessionData, encodedBytes: number | undefined) =>
    checkCopy(d, { kind: 'all-data', held: undefined, sessions: 0, now: Date.now(), limits, encodedBytes })

  it('within both size limits: taken without encoding its attributes again (its size is measured later)', () => {
    assert.deepEqual(check(copy({ attributes: [['a', 'x'.repeat(500)]] }), 600), { size: UNKNOWN_SIZE })
    assert.equal(
      (check(copy({ attributes: [['a', 'x'.repeat(500)]] }), undefined) as { size: number }).size,
      503,
      'measured when its encoded length is not known',
    )
  })

  it('within both size limits: a value nested too deep is still refused', () => {
    assert.equal(check(copy({ attributes: [['deep', nested(65)]] }), 600).refused, 'too-deep')
  })

  it('over a size limit: its attributes are measured, and one over maxAttributeSize is refused', () => {
    assert.equal(
      check(copy({ attributes: [['big', 'x'.repeat(2000)]] }), 2050).refused,
      'attribute-too-large',
    )
  })
})

describe('pushed backup copies (anti-entropy, repair) are bound by maxVersionStep past the held copy', () => {
  const writer = viewPeer('w')
  const pusher = viewPeer('mallory')
  /** A manager that holds the session at version 1, written by `writer`; `pusher` is in the view too. */
  async function holding() {
    const view = viewChannel([writer, pusher])
    const { m, lines } = await manager({ channel: view.channel })
    m.receive(created({ writer: writerOf(writer) }), writer)
    const requests = () => view.sent.filter((s) => s.message.type === 'session-request')
    return { m, lines, requests, before: seen(m) }
  }
  const push = (m: DeltaManager, d: SessionData) =>
    m.receive({ k: SESSION_MESSAGE, type: 'backup', ctx: '/app', sessions: [d] }, pusher)
  const copyAnswer = (session?: SessionData): ManagerMessage =>
    ({
      k: SESSION_MESSAGE,
      type: 'session-copy',
      ctx: '/app',
      id: ID,
      ...(session ? { session } : {}),
    }) as ManagerMessage

  it('a pushed backup copy that jumps more than maxVersionStep past the held copy is refused and the copy is fetched from its writer, whose answer is taken', async () => {
    const { m, lines, requests, before } = await holding()
    const far = copy({
      version: 502,
      writer: writerOf(writer),
      attributes: [['cart', ['after a partition']]],
    })
    await assert.rejects(push(m, far) as Promise<void>, /not taken/)
    assert.deepEqual(seen(m), before)
    assert.deepEqual(m.stats().refused, { version: 1 })
    const line = lines.find((l) => l.event === 'replication-refused')
    assert.equal(line?.type, 'backup')
    assert.equal(line?.code, 'CATTERY_ERR_REPLICATION_REFUSED')
    assert.equal(line?.from, describeMember(pusher))
    assert.match(String(line?.err), /502 is 501 ahead .* the copy is asked for/)
    // Asked of the member that wrote that version, as a change from another branch would be.
    assert.deepEqual(
      requests().map((r) => [r.to.map((t) => t.name), r.message.v, r.message.w]),
      [[['w'], 502, writerOf(writer)]],
    )
    // An asked-for copy may be any distance ahead: the push after a long partition is not lost.
    m.receive(copyAnswer(far), writer)
    assert.equal(m.peekSession(ID)?.version, 502)
    assert.deepEqual(m.peekSession(ID)?.get('cart'), ['after a partition'])
    await m.stop()
  })

  it('a forged push at version 2^53-1 takes nothing over: its writer has nothing that new, and later changes still apply', async () => {
    const { m, requests, before } = await holding()
    const forged = copy({
      version: 2 ** 53 - 1,
      writer: writerOf(writer),
      attributes: [['cart', ['stolen']]],
    })
    await assert.rejects(push(m, forged) as Promise<void>)
    assert.deepEqual(seen(m), before)
    assert.equal(requests().length, 1)
    m.receive(copyAnswer(), writer) // the writer holds nothing that new
    // The pusher cannot answer a request made of another member.
    m.receive(copyAnswer(forged), pusher)
    assert.deepEqual(seen(m), before)
    m.receive(delta(2, [['set', 'cart', ['pear']]]), writer)
    assert.equal(m.peekSession(ID)?.version, 2)
    assert.deepEqual(m.peekSession(ID)?.get('cart'), ['pear'])
    assert.deepEqual(m.stats().refused, { version: 1 })
    await m.stop()
  })

  it('takes a pushed copy within maxVersionStep of the held one, and one of a session not held here at any version', async () => {
    const { m, requests } = await holding()
    await push(m, copy({ version: 101, writer: writerOf(writer), attributes: [['cart', ['plum']]] }))
    assert.equal(m.peekSession(ID)?.version, 101)
    const other = 'FEDCBA9876543210FEDCBA9876543210.p1'
    await push(m, copy({ id: other, version: 2 ** 53 - 1, writer: writerOf(writer) }))
    assert.equal(m.peekSession(other)?.version, 2 ** 53 - 1)
    assert.deepEqual(m.stats().refused, {})
    assert.equal(requests().length, 0)
    await m.stop()
  })
})

describe('state-transfer pages', () => {
  it('a state-transfer page from a member that was not asked is refused, counted and logged with its sender', async () => {
    const donor = { ...viewPeer('d'), ready: true }
    const stranger = viewPeer('mallory')
    const view = viewChannel([donor, stranger])
    const lines: Array<Record<string, unknown>> = []
    const { type: _type, ...settings } = managerSettings()
    const m = new DeltaManager({
      ...settings,
      contextPath: '/app',
      logger: pino({ level: 'warn' }, { write: (l: string) => void lines.push(JSON.parse(l)) }),
      channel: view.channel,
    })
    const started = m.start()
    const ask = () => view.sent.find((s) => s.message.type === 'get-all')?.message
    while (!ask()) await new Promise((r) => setTimeout(r, 5))
    const transfer = ask()?.transfer as number
    const page = { k: SESSION_MESSAGE, ctx: '/app', transfer } as const
    const forged = encode(copy({ version: 2 ** 53 - 1 }))
    m.receive({ ...page, type: 'all-data', page: 0, sessions: [forged] }, stranger)
    m.receive({ ...page, type: 'transfer-complete', pages: 1, sessions: 1 }, stranger)
    assert.equal(m.sessionCount(), 0)
    assert.equal(m.ready, false)
    assert.deepEqual(m.stats().refused, { 'not-asked': 2 })
    const line = lines.find((l) => l.event === 'replication-refused')
    assert.equal(line?.code, 'CATTERY_ERR_TRANSFER_NOT_ASKED')
    assert.equal(line?.from, describeMember(stranger))
    m.receive({ ...page, type: 'transfer-complete', pages: 0, sessions: 0 }, donor)
    await started
    assert.equal(m.ready, true)
    await m.stop()
  })
})
