import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { test } from 'node:test'
import pino from 'pino'
import { RELAY_GRACE_MS } from '../../../node/session/donor-relay.ts'
import { newMessageCounts, SESSION_MESSAGE, type SessionMessage } from '../../../node/session/messages.ts'
import { type Rank, writerOf } from '../../../node/session/rank.ts'
import { ReplicaLog } from '../../../node/session/replica-log.ts'
import type { SessionData } from '../../../node/session/session.ts'
import {
  StateTransfer,
  type StateTransferOptions,
  type TransferRequest,
  transferRequest,
} from '../../../node/session/state-transfer.ts'
import { keyOf } from '../../../node/session/store.ts'
import type { Channel } from '../../../node/tribes/channel-types.ts'
import { decode, encode } from '../../../node/tribes/codec.ts'
import { CatteryError, ChannelSendError, codes } from '../../../node/tribes/errors.ts'
import { createLocalMember, type Member } from '../../../node/tribes/member.ts'

const session = (id: string, version = 1, value: unknown = id): SessionData => ({
  id,
  creationTime: 1,
  lastAccessedTime: 1,
  maxInactiveInterval: 1800,
  principal: undefined,
  authType: undefined,
  version,
  attributes: [['value', value]],
})

const member = (name: string, startTime: number): Member => ({
  ...createLocalMember({ host: '127.0.0.1', port: startTime, name }),
  startTime,
  ready: true,
})

/** A channel whose members and sends the test decides: `send(to, message)` is handed to `deliver`. */
function channel(view: Member[], deliver: (to: Member, m: SessionMessage) => Promise<void> | void) {
  return Object.assign(new EventEmitter(), {
    members: () => view,
    send: async (to: Member, m: SessionMessage) => {
      await new Promise(setImmediate) // as over a socket: never in the sender's turn
      await deliver(to, m)
    },
  }) as unknown as Channel & EventEmitter
}

type Options = Omit<StateTransferOptions, 'channel' | 'sessions'>
const defaults = (warnings: string[] = []): Options => ({
  contextPath: '/app',
  logger: pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) }),
  sent: newMessageCounts(),
  timeoutSeconds: 60,
  pageSize: 1000,
  notAsked: () => assert.fail('every page here comes from the donor asked'),
})

/** A donor holding `sessions`, answering the joiner `joiner` (pages go to `toJoiner`). */
function donor(
  me: Member,
  joiner: Member,
  sessions: SessionData[],
  toJoiner: () => StateTransfer,
  options: Partial<Options> = {},
) {
  const held = new Map(sessions.map((s) => [s.id, s]))
  const pages: number[] = []
  const pageBytes: number[] = []
  const chunks: number[] = []
  /** How each page carried its first session. */
  const forms: string[] = []
  let failPages = false
  const inFlight = { now: 0, most: 0 }
  const transfer = new StateTransfer({
    ...defaults(),
    ...options,
    channel: channel([joiner], async (_to, m) => {
      inFlight.most = Math.max(inFlight.most, ++inFlight.now)
      if (failPages && m.type !== 'transfer-complete') throw new Error('frame refused')
      if (m.type === 'all-data') {
        pages.push(m.sessions.length)
        forms.push(Array.isArray(decode(m.sessions[0] as Uint8Array)) ? 'tuple' : 'object')
        pageBytes.push(m.sessions.reduce((n, b) => n + b.length, 0))
        toJoiner().receivePage(m, me)
      } else if (m.type === 'all-data-chunk') {
        chunks.push(m.bytes.length)
        toJoiner().receiveChunk(m, me)
      } else if (m.type === 'transfer-complete') toJoiner().receiveEnd(m, me)
      await new Promise(setImmediate) // the acknowledgement
      inFlight.now--
    }),
    sessions: {
      ids: () => [...held.keys()],
      data: (id) => held.get(id),
      install: () => assert.fail('a donor installs nothing'),
    },
  })
  return {
    me,
    transfer,
    pages,
    pageBytes,
    chunks,
    forms,
    held,
    inFlight,
    failPages: (fail: boolean) => {
      failPages = fail
    },
  }
}

type Donor =
  | { me: Member; transfer: StateTransfer; answerAfter?: Promise<void> }
  | { me: Member; silent: true }

/**
 * A joiner whose get-all reaches the donors that answer (a silent one never does; another answers once
 * `answerAfter` resolved). Received sessions go to `install`, by default a list.
 */
function joiner(
  me: Member,
  donors: Donor[],
  options: Partial<Options> = {},
  install?: (d: SessionData) => void,
) {
  const installed: SessionData[] = []
  const asked: string[] = []
  /** The transfer id of each request. */
  const transfers: number[] = []
  const ch = channel(
    donors.map((d) => d.me),
    async (to, m) => {
      if (m.type !== 'get-all') return
      asked.push(to.name)
      transfers.push(m.transfer)
      const d = donors.find((x) => x.me === to)
      if (!d || !('transfer' in d)) return
      await d.answerAfter
      void d.transfer.give(me, transferRequest(m))
    },
  )
  const transfer = new StateTransfer({
    ...defaults(),
    ...options,
    channel: ch,
    sessions: {
      ids: () => [],
      data: () => undefined,
      install: install ?? ((d) => void installed.push(d)),
    },
  })
  return { me, transfer, installed, asked, transfers, channel: ch }
}

test('a joiner gets every session from the donor in pages of pageSize, one page in flight at a time', async () => {
  const a = member('a', 1)
  const j = member('j', 2)
  const sessions = Array.from({ length: 5 }, (_, i) => session(`S${i}.a`))
  let joining: ReturnType<typeof joiner> | undefined
  const d = donor(a, j, sessions, () => joining?.transfer as StateTransfer, { pageSize: 2 })
  joining = joiner(j, [d])
  await joining.transfer.fetch()
  assert.deepEqual(d.pages, [2, 2, 1])
  assert.equal(d.inFlight.most, 1)
  assert.deepEqual(
    joining.installed.map((s) => s.id),
    sessions.map((s) => s.id),
  )
  assert.equal(joining.transfer.counters.transferredSessions, 5)
  assert.equal(joining.transfer.transferring, false)
})

test('sessions travel packed as tuples when the joiner asks so, as objects to a joiner that does not (an older member), and arrive the same', async () => {
  const a = member('a', 1)
  const j = member('j', 2)
  const sessions = [session('S1.a'), { ...session('S2.a', 4, 'v'), principal: 'ann', writer: 'ab' }]
  for (const packed of [true, false]) {
    let joining: ReturnType<typeof joiner> | undefined
    const d = donor(a, j, sessions, () => joining?.transfer as StateTransfer)
    // An older joiner's request has no `packed`.
    const asOlder = { give: (to: Member, r: TransferRequest) => d.transfer.give(to, { ...r, packed: false }) }
    joining = joiner(j, [packed ? d : { me: a, transfer: asOlder as unknown as StateTransfer }])
    await joining.transfer.fetch()
    assert.deepEqual(d.forms, [packed ? 'tuple' : 'object'])
    assert.deepEqual(joining.installed, sessions)
  }
})

test('a donor reads each session when it builds its page, one page ahead of the joiner: one gone since the transfer began is left out', async () => {
  const a = member('a', 1)
  const j = member('j', 2)
  let joining: ReturnType<typeof joiner> | undefined
  let first = true
  const d = donor(
    a,
    j,
    [session('S1.a'), session('S2.a'), session('S3.a')],
    () => {
      // Page 1 has arrived: the donor has read S2 for page 2 meanwhile, not yet S3 (page 3 is read
      // only once page 2 left, after page 1's ACK).
      if (first) d.held.delete('S3.a')
      first = false
      return joining?.transfer as StateTransfer
    },
    { pageSize: 1 },
  )
  joining = joiner(j, [d])
  await joining.transfer.fetch()
  assert.deepEqual(d.pages, [1, 1], 'the third page would have been empty: not sent')
  assert.deepEqual(
    joining.installed.map((s) => s.id),
    ['S1.a', 'S2.a'],
  )
})

test('changes arriving during the transfer are applied after the page that brings their session; older ones are dropped', async () => {
  const a = member('a', 1)
  const j = member('j', 2)
  // The joiner's copies go through a replica log, as in a manager.
  const copies = new Map<string, SessionData & Rank>()
  let transferring = () => true
  const log = new ReplicaLog<SessionData & Rank>({
    replicas: {
      find: (id) => copies.get(keyOf(id)),
      apply: (s, change) => {
        s.version = change.v
        if (change.type === 'delta')
          for (const action of change.actions)
            if (action[0] === 'set') s.attributes = [[action[1], action[2]]]
      },
      fetch: () => {},
      remove: (id) => void copies.delete(keyOf(id)),
    },
    logger: pino({ level: 'silent' }),
    transferring: () => transferring(),
    holdTimeoutMs: 0,
  })
  const install = (s: SessionData) => {
    if (!log.admits(s.id, { version: s.version, writer: '' }, copies.get(keyOf(s.id)))) return
    copies.set(keyOf(s.id), { ...s, writer: '' })
    log.installed(s.id)
  }
  let joining: ReturnType<typeof joiner> | undefined
  const d = donor(
    a,
    j,
    [session('S1.a', 2, 'snapshot'), session('S2.a', 2, 'snapshot')],
    () => joining?.transfer as StateTransfer,
  )
  let answer = () => {}
  const answerAfter = new Promise<void>((resolve) => {
    answer = resolve
  })
  joining = joiner(j, [{ ...d, answerAfter }], {}, install)
  const { transfer } = joining
  transferring = () => transfer.transferring
  const fetched = transfer.fetch()
  await new Promise(setImmediate)
  assert.equal(transfer.transferring, true)
  const change = (id: string, v: number, value: string) =>
    log.change(
      { k: SESSION_MESSAGE, type: 'delta', ctx: '/app', id, v, a: 0, actions: [['set', 'value', value]] },
      a,
    )
  change('S1.a', 3, 'newer') // newer than the snapshot: applied after it
  change('S2.a', 2, 'stale') // the snapshot already has it: dropped
  log.sweep()
  assert.equal(log.held, 2, 'not dropped while the transfer runs, though past the hold timeout')
  answer()
  await fetched
  log.settle()
  assert.deepEqual(copies.get('S1')?.attributes, [['value', 'newer']])
  assert.equal(copies.get('S1')?.version, 3)
  assert.deepEqual(copies.get('S2')?.attributes, [['value', 'snapshot']])
  assert.equal(log.counters.droppedDuplicates, 1)
  assert.equal(log.held, 0)
})

test('a donor that sends nothing for pageTimeoutMs is given up for the next ready member, and its late pages are ignored', async () => {
  const silent = { me: member('silent', 1), silent: true as const }
  const b = member('b', 2)
  const j = member('j', 3)
  let joining: ReturnType<typeof joiner> | undefined
  const d = donor(b, j, [session('S1.b')], () => joining?.transfer as StateTransfer)
  joining = joiner(j, [silent, d], { pageTimeoutMs: 300 })
  await joining.transfer.fetch()
  assert.deepEqual(joining.asked, ['silent', 'b'], 'the longest-running member first')
  assert.deepEqual(
    joining.installed.map((s) => s.id),
    ['S1.b'],
  )
  joining.transfer.receivePage(
    {
      k: SESSION_MESSAGE,
      type: 'all-data',
      ctx: '/app',
      transfer: 1,
      page: 0,
      sessions: [encode(session('late.silent'))],
    },
    silent.me,
  )
  assert.equal(joining.installed.length, 1)
})

test('a state-transfer page from a member that was not asked is refused: named to the manager, never installed, and it ends nothing', async () => {
  const [a, x, jm] = [member('a', 1), member('x', 2), member('j', 3)]
  let answer = () => {}
  const answerAfter = new Promise<void>((resolve) => {
    answer = resolve
  })
  const refused: Array<[string, string]> = []
  let joining: ReturnType<typeof joiner> | undefined
  const d = donor(a, jm, [session('S1.a')], () => joining?.transfer as StateTransfer)
  joining = joiner(jm, [{ ...d, answerAfter }], {
    notAsked: (from, type, why) => {
      assert.match(why, /asked a@/)
      refused.push([from.name, type])
    },
  })
  const j = joining
  const fetched = j.transfer.fetch()
  await until(() => j.transfers.length === 1)
  // x, another member of the cluster, names the running transfer, as the donor would.
  const transfer = j.transfers[0] as number
  const forged = encode(session('forged.x', 2 ** 53 - 1))
  const base = { k: SESSION_MESSAGE, ctx: '/app', transfer } as const
  j.transfer.receivePage({ ...base, type: 'all-data', page: 0, sessions: [forged] }, x)
  j.transfer.receiveChunk(
    { ...base, type: 'all-data-chunk', index: 0, count: 1, total: forged.length, bytes: forged },
    x,
  )
  j.transfer.receiveEnd({ ...base, type: 'transfer-complete', pages: 1, sessions: 1 }, x)
  j.transfer.receiveEnd({ ...base, type: 'no-context-manager' }, x)
  assert.deepEqual(refused, [
    ['x', 'all-data'],
    ['x', 'all-data-chunk'],
    ['x', 'transfer-complete'],
    ['x', 'no-context-manager'],
  ])
  assert.equal(j.installed.length, 0)
  assert.equal(j.transfer.status().state, 'receiving', 'the forged end did not end the transfer')
  assert.equal(j.transfer.status().received, 0)
  answer()
  await fetched
  assert.deepEqual(
    j.installed.map((s) => s.id),
    ['S1.a'],
  )
  assert.equal(refused.length, 4)
})

test('a donor that leaves mid-transfer is given up at once for the next ready member', async () => {
  const leaving = { me: member('leaving', 1), silent: true as const }
  const b = member('b', 2)
  const j = member('j', 3)
  let joining: ReturnType<typeof joiner> | undefined
  const d = donor(b, j, [session('S1.b')], () => joining?.transfer as StateTransfer)
  joining = joiner(j, [leaving, d])
  const started = Date.now()
  const fetched = joining.transfer.fetch()
  await new Promise((r) => setTimeout(r, 20))
  joining.channel.emit('memberDisappeared', leaving.me)
  await fetched
  assert.ok(Date.now() - started < 5000, 'not after the page timeout')
  assert.deepEqual(joining.asked, ['leaving', 'b'])
})

test('after timeoutSeconds a joiner whose donor stays silent logs an error and keeps waiting; it starts only once no ready member is left', async (t) => {
  const warnings: string[] = []
  const silent = { me: member('silent', 1), silent: true as const }
  const joining = joiner(member('j', 2), [silent], {
    ...defaults(warnings),
    timeoutSeconds: 1,
    pageTimeoutMs: 300,
    retryPauseMs: 50,
  })
  t.after(() => joining.transfer.stop())
  let done = false
  const fetched = joining.transfer.fetch().then(() => {
    done = true
  })
  await new Promise((r) => setTimeout(r, 1800))
  assert.equal(done, false, 'never ready with a partial copy while a ready member lives')
  assert.equal(joining.transfer.transferring, true)
  assert.ok(warnings.some((w) => w.includes('has not completed within stateTransferTimeout')))
  const status = joining.transfer.status()
  assert.notEqual(status.state, 'done')
  assert.match(status.reason ?? '', /sent nothing/)
  assert.ok(status.attempts >= 2, 'the donor was asked again')
  assert.match(String(status.donor), /silent/)
  // The donor is gone: nobody holds sessions any more, so the joiner starts with what it has.
  ;(silent.me as { ready: boolean }).ready = false
  joining.channel.emit('memberDisappeared', silent.me)
  await fetched
  assert.equal(joining.transfer.status().state, 'done')
  assert.equal(joining.transfer.transferring, false)
  assert.ok(warnings.some((w) => w.includes('no ready member is left')))
})

test('with no ready member (the first one, or members starting together) the joiner does not wait', async () => {
  const notReady = { ...member('a', 1), ready: false }
  const joining = joiner(member('j', 2), [{ me: notReady, silent: true }])
  await joining.transfer.fetch()
  assert.deepEqual(joining.asked, [])
  assert.equal(joining.transfer.counters.transferredSessions, 0)
})

/** A donor whose sends to the joiner are recorded (and fail when `failing` says so). */
function relayingDonor(failing = false) {
  const me = member('a', 1)
  const j = member('j', 2)
  const b = member('b', 3)
  const sent: Array<{ to: string; type: string; options: number }> = []
  const ch = Object.assign(new EventEmitter(), {
    members: () => [j, b],
    send: async (to: Member, m: SessionMessage, options = 0) => {
      await new Promise(setImmediate)
      sent.push({ to: to.name, type: m.type, options })
      if (failing && m.type === 'delta') throw new Error('connection reset')
    },
  }) as unknown as Channel & EventEmitter
  const transfer = new StateTransfer({
    ...defaults(),
    channel: ch,
    sessions: { ids: () => [], data: () => undefined, install: () => undefined },
  })
  return { me, j, b, sent, transfer }
}

const delta = (id: string, v: number): SessionMessage => ({
  k: SESSION_MESSAGE,
  type: 'delta',
  ctx: '/app',
  id,
  v,
  a: 1,
  actions: [['set', 'n', v]],
})

test('a donor that does not know the joiner yet (NOT_A_MEMBER) is asked again at once, not after a round’s pause', async () => {
  const a = member('a', 1)
  const j = member('j', 2)
  let joining: ReturnType<typeof joiner> | undefined
  const d = donor(a, j, [session('S1.a')], () => joining?.transfer as StateTransfer)
  joining = joiner(j, [d], { retryPauseMs: 5_000 })
  const send = joining.channel.send.bind(joining.channel)
  let refusals = 2
  ;(joining.channel as unknown as { send: Channel['send'] }).send = (async (
    to: Member,
    m: SessionMessage,
    o?: number,
  ) => {
    if (m.type === 'get-all' && refusals-- > 0)
      throw new ChannelSendError([
        { member: 'a', error: new CatteryError(codes.NOT_A_MEMBER, 'a is not a member') },
      ])
    return send(to, m, o)
  }) as unknown as Channel['send']
  const started = performance.now()
  await joining.transfer.fetch()
  assert.ok(performance.now() - started < 2_000, 'asked again long before the 5 s round pause')
  assert.deepEqual(
    joining.installed.map((x) => x.id),
    ['S1.a'],
  )
  assert.equal(joining.transfer.status().attempts, 3)
})

test('with no joiner being served, a donor relays nothing', () => {
  const d = relayingDonor()
  assert.equal(d.transfer.relay(delta('S.b', 2), d.b, 6), undefined)
  assert.equal(d.transfer.counters.relayed, 0)
})

test('a donor relays a change it receives to the joiner it gave its state to, with the sender’s send options, not back to the sender', async () => {
  const d = relayingDonor()
  await d.transfer.give(d.j, { transfer: 7 })
  d.sent.length = 0
  await d.transfer.relay(delta('S.b', 2), d.b, 6)
  assert.deepEqual(d.sent, [{ to: 'j', type: 'delta', options: 6 }])
  assert.equal(
    d.transfer.relay(delta('S.j', 3), d.j, 6),
    undefined,
    "the joiner's own change is not sent back",
  )
  assert.equal(d.transfer.counters.relayed, 1)
})

test('a donor stops relaying to a joiner RELAY_GRACE_MS after its transfer ended', async (t) => {
  const d = relayingDonor()
  t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 }) // the clock stands still during the transfer
  await d.transfer.give(d.j, { transfer: 7 })
  t.mock.timers.tick(RELAY_GRACE_MS - 1)
  assert.ok(d.transfer.relay(delta('S.b', 2), d.b, 8), 'still relayed within the grace period')
  t.mock.timers.tick(2)
  assert.equal(d.transfer.relay(delta('S.b', 3), d.b, 8), undefined)
})

test('a relay that fails is counted and never fails the change it copies', async () => {
  const d = relayingDonor(true)
  await d.transfer.give(d.j, { transfer: 7 })
  await d.transfer.relay(delta('S.b', 2), d.b, 6) // resolves: the sender's ACK does not depend on it
  assert.equal(d.transfer.counters.relayFailures, 1)
})

/** A session whose one attribute is `bytes` long (a string: encoded as itself plus a few bytes). */
const sized = (id: string, bytes: number) => session(id, 1, 'x'.repeat(bytes))

/** A value msgpackr decodes but cannot encode again (its encoder recurses once per level). */
function tooDeep(depth = 3000): unknown {
  let v: unknown = 1
  for (let i = 0; i < depth; i++) v = { a: v }
  return v
}

/** A donor `a` holding `sessions` and a joiner `j` asking it, wired together; `next()` is a new joiner. */
function pair(sessions: SessionData[], options: Partial<Options> = {}) {
  let joining: ReturnType<typeof joiner> | undefined
  const jm = member('j', 2)
  const d = donor(member('a', 1), jm, sessions, () => joining?.transfer as StateTransfer, options)
  joining = joiner(jm, [d], options)
  const next = () => {
    joining = joiner(jm, [d], options)
    return joining
  }
  return { d, j: joining, next }
}

test('pages are cut by encoded bytes: each stays within half of maxFrameBytes, and at most pageSize sessions', async () => {
  const sessions = Array.from({ length: 10 }, (_, i) => sized(`S${i}.a`, 1000))
  const { d, j } = pair(sessions, { maxFrameBytes: 8192, pageSize: 1000 })
  await j.transfer.fetch()
  assert.ok(d.pages.length > 1, `cut by bytes, not by count: ${d.pages}`)
  for (const bytes of d.pageBytes) assert.ok(bytes <= 4096, `a page of ${bytes} bytes`)
  assert.deepEqual(d.pages, [3, 3, 3, 1])
  assert.deepEqual(
    j.installed.map((s) => s.id),
    sessions.map((s) => s.id),
  )
  const counted = pair(sessions, { maxFrameBytes: 1 << 20, pageSize: 4 })
  await counted.j.transfer.fetch()
  assert.deepEqual(counted.d.pages, [4, 4, 2], 'still at most pageSize sessions')
})

test('a session larger than the page budget travels alone, in chunks, and arrives whole', async () => {
  const sessions = [sized('small1.a', 100), sized('big.a', 20_000), sized('small2.a', 100)]
  const { d, j } = pair(sessions, { maxFrameBytes: 8192 })
  await j.transfer.fetch()
  assert.deepEqual(d.pages, [1, 1], 'the pages around it hold the small ones')
  assert.equal(d.chunks.length, 5, `20 KB in chunks of at most 4 KiB: ${d.chunks}`)
  for (const c of d.chunks) assert.ok(c <= 4096)
  assert.deepEqual(
    j.installed.map((s) => s.id),
    ['small1.a', 'big.a', 'small2.a'],
  )
  assert.deepEqual(j.installed[1]?.attributes, sessions[1]?.attributes)
  assert.equal(j.transfer.status().state, 'done')
  assert.equal(j.transfer.status().expected, 3)
})

test('a session that cannot be encoded is skipped, logged with its id and counted; the others arrive and later transfers still work', async () => {
  const warnings: string[] = []
  const sessions = [session('S1.a'), session('deep.a', 1, tooDeep()), session('S2.a')]
  const { d, j, next } = pair(sessions, { ...defaults(warnings) })
  await j.transfer.fetch()
  assert.deepEqual(
    j.installed.map((s) => s.id),
    ['S1.a', 'S2.a'],
  )
  assert.equal(d.transfer.counters.transferSkipped, 1)
  assert.equal(j.transfer.status().skipped, 1)
  assert.equal(j.transfer.status().state, 'done')
  const line = warnings.find((w) => w.includes('left out of the state transfer'))
  assert.ok(line, 'the donor logs it')
  assert.equal(JSON.parse(line).id, 'deep.a')
  // The next joiner served by the same donor gets the same: nothing is left broken.
  const j2 = next()
  await j2.transfer.fetch()
  assert.deepEqual(
    j2.installed.map((s) => s.id),
    ['S1.a', 'S2.a'],
  )
  assert.equal(d.transfer.counters.transferSkipped, 2)
})

test('a joiner stays not ready while its ready donor fails every page, says why, and becomes ready once a transfer completes', async (t) => {
  const sessions = [session('S1.a'), session('S2.a')]
  const { d, j } = pair(sessions, { pageTimeoutMs: 5000, retryPauseMs: 50 })
  t.after(() => j.transfer.stop())
  d.failPages(true)
  let done = false
  const fetched = j.transfer.fetch().then(() => {
    done = true
  })
  await new Promise((r) => setTimeout(r, 500))
  assert.equal(done, false)
  assert.equal(j.transfer.transferring, true)
  const status = j.transfer.status()
  assert.match(status.reason ?? '', /the donor could not finish: frame refused/)
  assert.ok(status.attempts >= 2, `asked again: ${status.attempts}`)
  d.failPages(false)
  await fetched
  assert.equal(j.transfer.status().state, 'done')
  assert.deepEqual(
    j.installed.map((s) => s.id),
    ['S1.a', 'S2.a'],
  )
})

test('a transfer that ends with fewer sessions than the donor says it sent does not count as complete', async () => {
  const a = member('a', 1)
  const jm = member('j', 2)
  let answers = 0
  let joining: ReturnType<typeof joiner> | undefined
  const ch = channel([jm], async (_to, m) => {
    if (m.type === 'transfer-complete') {
      answers++
      // The first time, claims one session more than it sent.
      joining?.transfer.receiveEnd(answers === 1 ? { ...m, sessions: m.sessions + 1 } : m, a)
    } else if (m.type === 'all-data') joining?.transfer.receivePage(m, a)
  })
  const giver = new StateTransfer({
    ...defaults(),
    channel: ch,
    sessions: { ids: () => ['S1.a'], data: () => session('S1.a'), install: () => undefined },
  })
  joining = joiner(jm, [{ me: a, transfer: giver }], { retryPauseMs: 20 })
  await joining.transfer.fetch()
  assert.equal(answers, 2, 'asked again after the incomplete transfer')
})

test('a member that comes back into the view after a gap is asked for its sessions again, and the status shows no transfer under way once that ends', async () => {
  const a = member('a', 1)
  const jm = member('j', 2)
  const { d, j } = (() => {
    let joining: ReturnType<typeof joiner> | undefined
    const dd = donor(a, jm, [session('S1.a', 4)], () => joining?.transfer as StateTransfer)
    joining = joiner(jm, [dd])
    return { d: dd, j: joining }
  })()
  await j.transfer.fetch() // the first transfer
  j.transfer.watchRejoins()
  assert.equal(j.asked.length, 1)
  j.channel.emit('memberDisappeared', a)
  d.held.set('S2.a', session('S2.a')) // created while they could not see each other
  j.channel.emit('memberAdded', a)
  await until(() => j.installed.some((s) => s.id === 'S2.a'))
  assert.equal(j.asked.length, 2)
  await until(() => j.transfer.counters.resyncs === 1)
  assert.equal(j.transfer.status().state, 'done', 'the re-sync ended (/status, the dashboard)')
  assert.equal(j.transfer.status().reason, undefined)
  assert.equal(j.transfer.transferring, false)
  // Held changes ask for a re-sync too, but not again within the cooldown.
  assert.equal(j.transfer.resync(a, 'test'), false)
  j.transfer.stop()
})

async function until(predicate: () => boolean, ms = 3000) {
  const deadline = Date.now() + ms
  while (!predicate()) {
    if (Date.now() > deadline) assert.fail('timed out')
    await new Promise((r) => setTimeout(r, 10))
  }
}

test('fromEveryDonor: each request names the donors; the part of a donor that left before completing is asked again of those that completed', async () => {
  const [a, x, b, j] = [member('a', 1), member('x', 2), member('b', 3), member('j', 4)] as const
  const view = [a, x, b]
  const requests: Array<{ to: string; donors?: string[]; sent?: string[] }> = []
  let joining: StateTransfer | undefined
  const giver = (me: Member) =>
    new StateTransfer({
      ...defaults(),
      channel: channel([j], (_to, m) => {
        if (m.type === 'transfer-complete') joining?.receiveEnd(m, me)
      }),
      sessions: {
        ids: () => [],
        data: () => undefined,
        install: () => assert.fail('a donor installs nothing'),
      },
    })
  const givers = new Map([
    [a, giver(a)],
    [b, giver(b)],
  ])
  const ch = channel(view, (to, m) => {
    if (m.type !== 'get-all') return
    requests.push({ to: to.name, donors: m.donors, sent: m.sent })
    // x never answers: it dies while the joiner waits for it.
    void givers.get(to)?.give(j, transferRequest(m))
  })
  joining = new StateTransfer({
    ...defaults(),
    retryPauseMs: 10,
    fromEveryDonor: true,
    channel: ch,
    sessions: { ids: () => [], data: () => undefined, install: () => {} },
  })
  const fetched = joining.fetch()
  await until(() => requests.length === 2)
  view.splice(view.indexOf(x), 1)
  ch.emit('memberDisappeared', x)
  await fetched
  const [wa, wx, wb] = [writerOf(a), writerOf(x), writerOf(b)]
  assert.deepEqual(requests, [
    { to: 'a', donors: [wa, wx, wb], sent: undefined },
    { to: 'x', donors: [wa, wx, wb], sent: undefined },
    { to: 'b', donors: [wa, wb], sent: undefined },
    { to: 'a', donors: [wa, wb], sent: [wa, wx, wb] },
  ])
})
