/**
 * The BackupManager's Tomcat settings beyond placement: rpcTimeout (how long a request waits for the
 * copy of a session this member does not hold), terminateOnStartFailure (a start whose state
 * transfer does not complete fails instead of waiting, not ready) and accessTimeout (accepted,
 * without effect: noted at start). A fake channel stands for the other members.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import pino from 'pino'
import {
  ACCESS_TIMEOUT_MS,
  BackupManager,
  type BackupManagerOptions,
} from '../../../node/session/backup-manager.ts'
import type { ManagerMessage } from '../../../node/session/cluster-manager.ts'
import { sessionCodes } from '../../../node/session/errors.ts'
import { SESSION_MESSAGE } from '../../../node/session/messages.ts'
import { PlacementView } from '../../../node/session/placement.ts'
import { writerOf } from '../../../node/session/rank.ts'
import { startFailure } from '../../../node/session/start-failure.ts'
import type { TransferStatus } from '../../../node/session/state-transfer.ts'
import type { Channel } from '../../../node/tribes/channel-types.ts'
import type { Member } from '../../../node/tribes/member.ts'
import { managerSettings, peer, sessionData, viewChannel } from '../../helpers/managers.ts'

/** A BackupManager (k = 1) of context /app on `channel`; stateTransferTimeout 1 s (the helper's). */
function backupManager(channel: Channel, more: Partial<BackupManagerOptions> = {}): BackupManager {
  const { type: _type, ...settings } = managerSettings()
  return new BackupManager({
    ...settings,
    sendOptions: 6,
    backups: 1,
    contextPath: '/app',
    logger: pino({ level: 'silent' }),
    channel,
    ...more,
  })
}

/** A member that holds sessions (a joiner asks it for its share). */
const readyPeer = (name: string): Member => ({ ...peer(name), ready: true })

/** A logger whose lines the test reads. */
function capturingLogger() {
  const lines: Array<Record<string, unknown>> = []
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) })
  return { logger, lines }
}

/** Settles `p` into what it did (for a promise that must not settle yet, check `state` later). */
function track(p: Promise<unknown>) {
  const t: { state: 'pending' | 'resolved' | 'rejected'; error?: unknown } = { state: 'pending' }
  p.then(
    () => {
      t.state = 'resolved'
    },
    (err) => {
      t.state = 'rejected'
      t.error = err
    },
  )
  return t
}

describe('startFailure (terminateOnStartFailure decides from the state transfer)', () => {
  const status = (s: Partial<TransferStatus>): TransferStatus => ({
    state: 'waiting',
    received: 0,
    skipped: 0,
    attempts: 0,
    since: 0,
    ...s,
  })
  const cases: Array<[string, TransferStatus, number, RegExp | undefined]> = [
    ['done: received from every donor', status({ state: 'done', attempts: 2 }), 10, undefined],
    [
      'done: no ready member to ask (first member)',
      status({ state: 'done', reason: 'no ready member to ask' }),
      10,
      undefined,
    ],
    [
      'done: every donor left before completing',
      status({ state: 'done', attempts: 1, reason: 'no ready member is left to ask' }),
      10,
      /ended incomplete \(no ready member is left to ask\) after 1 attempt/,
    ],
    ['receiving, within the timeout', status({ state: 'receiving', attempts: 1 }), 999, undefined],
    [
      'receiving past the timeout',
      status({ state: 'receiving', attempts: 1, donor: 'n2@127.0.0.2:1' }),
      1000,
      /did not complete within stateTransferTimeout \(1 s, 1 attempt\(s\), last donor n2@127\.0\.0\.2:1\)/,
    ],
    [
      'waiting past the timeout, each donor failed',
      status({ attempts: 3, reason: 'the donor sent nothing for 10000 ms' }),
      5000,
      /within stateTransferTimeout .*\(last: the donor sent nothing for 10000 ms\)/,
    ],
  ]
  for (const [name, s, elapsed, expected] of cases)
    it(name, () => {
      const got = startFailure(s, elapsed, 1000)
      if (expected === undefined) assert.equal(got, undefined)
      else assert.match(got ?? '', expected)
    })
})

describe('terminateOnStartFailure', () => {
  it('false (the default, as Tomcat): a joiner whose donor does not answer stays not ready and keeps trying past stateTransferTimeout', async () => {
    const net = viewChannel([readyPeer('n2')])
    const m = backupManager(net.channel)
    const start = track(m.start())
    await sleep(1500)
    assert.equal(start.state, 'pending', 'still waiting for its sessions')
    assert.equal(m.ready, false)
    await m.stop()
    await sleep(0)
    assert.equal(start.state, 'resolved', 'a stop ends the wait')
  })

  it('true: a donor that does not answer within stateTransferTimeout fails the start with a coded error naming the context and the reason', async () => {
    const net = viewChannel([readyPeer('n2')])
    const m = backupManager(net.channel, { terminateOnStartFailure: true })
    const began = Date.now()
    await assert.rejects(m.start(), (err: Error & { code?: string }) => {
      assert.equal(err.code, sessionCodes.CONTEXT_START_FAILED)
      assert.match(err.message, /^context \/app failed to start \(manager\.terminateOnStartFailure\): /)
      assert.match(err.message, /did not complete within stateTransferTimeout \(1 s/)
      return true
    })
    const ms = Date.now() - began
    assert.ok(ms >= 950 && ms < 5000, `failed after stateTransferTimeout (${ms} ms)`)
    assert.equal(m.ready, false)
    assert.ok(
      net.sent.some((s) => s.message.type === 'get-all'),
      'it asked the donor',
    )
    assert.ok(
      net.sent.some((s) => s.message.type === 'leaving'),
      'it announced that it leaves placement before failing',
    )
  })

  it('true: every donor leaving before the transfer completed fails the start at once (a partial copy), never reporting its sessions ready', async () => {
    const donor = readyPeer('n2')
    const net = viewChannel([donor])
    const { logger, lines } = capturingLogger()
    const m = backupManager(net.channel, { terminateOnStartFailure: true, logger })
    const asked = new Promise<void>((resolve) => {
      const send = net.channel.send.bind(net.channel)
      net.channel.send = async (to, message, options) => {
        await send(to, message, options)
        if ((message as { type?: string }).type === 'get-all') resolve()
      }
    })
    const start = m.start()
    await asked
    net.setMembers([])
    ;(net.channel as unknown as NodeJS.EventEmitter).emit('memberDisappeared', donor, 'crashed')
    const began = Date.now()
    await assert.rejects(start, (err: Error & { code?: string }) => {
      assert.equal(err.code, sessionCodes.CONTEXT_START_FAILED)
      assert.match(err.message, /context \/app .*ended incomplete \(no ready member is left to ask\)/)
      return true
    })
    assert.ok(Date.now() - began < 900, 'without waiting for stateTransferTimeout')
    assert.equal(m.ready, false)
    assert.deepEqual(
      lines.filter((l) => l.msg === 'sessions ready'),
      [],
      'a partial copy is never announced as ready',
    )
  })

  it('true: a start with no ready member to ask (the first member) succeeds', async () => {
    const m = backupManager(viewChannel([peer('n2')]).channel, { terminateOnStartFailure: true })
    await m.start()
    try {
      assert.equal(m.ready, true)
    } finally {
      await m.stop()
    }
  })

  it('true: a transfer that completes starts the context as usual', async () => {
    const donor = readyPeer('n2')
    const net = viewChannel([donor])
    const m = backupManager(net.channel, { terminateOnStartFailure: true })
    const send = net.channel.send.bind(net.channel)
    net.channel.send = async (to, message, options) => {
      await send(to, message, options)
      const x = message as { type?: string; transfer?: number }
      if (x.type === 'get-all')
        setImmediate(() =>
          m.receive(
            {
              k: SESSION_MESSAGE,
              type: 'transfer-complete',
              ctx: '/app',
              transfer: x.transfer,
              pages: 0,
              sessions: 0,
            } as ManagerMessage,
            donor,
          ),
        )
    }
    await m.start()
    try {
      assert.equal(m.ready, true)
      assert.equal(m.stats().stateTransfer?.state, 'done')
    } finally {
      await m.stop()
    }
  })
})

describe('accessTimeout', () => {
  const noted = (lines: Array<Record<string, unknown>>) =>
    lines.filter((l) => String(l.msg).startsWith('manager.accessTimeout has no effect'))

  it("is accepted, and a value other than Tomcat's 5000 ms is noted at start as having no effect", async () => {
    const { logger, lines } = capturingLogger()
    const m = backupManager(viewChannel([]).channel, { accessTimeout: 2000, logger })
    await m.start()
    await m.stop()
    const [line, ...more] = noted(lines)
    assert.equal(more.length, 0)
    assert.equal(line?.accessTimeout, 2000)
    assert.match(String(line?.msg), /membership\.expireTime/)
  })

  it("Tomcat's default is not noted", async () => {
    const { logger, lines } = capturingLogger()
    const m = backupManager(viewChannel([]).channel, { accessTimeout: ACCESS_TIMEOUT_MS, logger })
    await m.start()
    await m.stop()
    assert.deepEqual(noted(lines), [])
  })
})

describe('rpcTimeout', () => {
  /** A started member with two peers, and a session that only the peers own. */
  async function proxyMember(rpcTimeout: number) {
    const p2 = peer('n2')
    const p3 = peer('n3')
    const net = viewChannel([p2, p3])
    const m = backupManager(net.channel, { rpcTimeout })
    // Both peers have the context started (map-members.ts).
    for (const from of [p2, p3])
      m.receive({ k: SESSION_MESSAGE, type: 'map-member', ctx: '/app', present: true } as never, from)
    await m.start()
    const self = writerOf(net.channel.localMember)
    const view = new PlacementView([self, writerOf(p2), writerOf(p3)])
    let key = ''
    do key = randomBytes(16).toString('hex').toUpperCase()
    while (view.owners(key, 2).includes(self))
    return { m, net, p2, p3, id: `${key}.n2`, w2: writerOf(p2) }
  }

  it('a request for a session held by owners that do not answer is given no session once rpcTimeout passed (its client then gets a new one)', async () => {
    const { m, net, id } = await proxyMember(300)
    try {
      const began = Date.now()
      const found = await m.findSession(id)
      const ms = Date.now() - began
      assert.equal(found, undefined)
      assert.ok(ms >= 290, `it waited rpcTimeout (${ms} ms)`)
      assert.ok(ms < 3000, `and not much more (${ms} ms)`)
      const asked = net.sent.filter((s) => s.message.type === 'session-request')
      assert.deepEqual(asked.flatMap((s) => s.to.map((x) => x.name)).sort(), ['n2', 'n3'], 'asked its owners')
      assert.equal(m.stats().placement?.fetchMisses, 1)
    } finally {
      await m.stop()
    }
  })

  it('a copy that arrives within rpcTimeout is served', async () => {
    const { m, p2, id, w2 } = await proxyMember(5000)
    try {
      setTimeout(
        () =>
          m.receive(
            {
              k: SESSION_MESSAGE,
              type: 'session-copy',
              ctx: '/app',
              id,
              session: sessionData(id, { writer: w2, attributes: [['count', 7]] }),
            } as ManagerMessage,
            p2,
          ),
        100,
      )
      const began = Date.now()
      const found = await m.findSession(id)
      assert.equal(found?.get('count'), 7)
      assert.ok(Date.now() - began < 2000, 'without waiting out rpcTimeout')
      assert.equal(m.stats().placement?.fetchMisses, 0)
    } finally {
      await m.stop()
    }
  })

  it('owners that answer they hold no such session end the wait at once', async () => {
    const { m, p2, p3, id } = await proxyMember(5000)
    try {
      setTimeout(() => {
        for (const from of [p2, p3])
          m.receive({ k: SESSION_MESSAGE, type: 'session-copy', ctx: '/app', id } as ManagerMessage, from)
      }, 50)
      const began = Date.now()
      assert.equal(await m.findSession(id), undefined)
      assert.ok(Date.now() - began < 2000, 'without waiting out rpcTimeout')
    } finally {
      await m.stop()
    }
  })
})
