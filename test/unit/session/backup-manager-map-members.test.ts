/**
 * The BackupManager's map members (node/session/map-members.ts): placement is over the channel
 * members that have the context started, learned from their announcements and answers, so that a
 * member without the application is never given a copy (Tomcat: "only to nodes that have the
 * application deployed").
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep, setImmediate as turn } from 'node:timers/promises'
import type { BackupManager } from '../../../node/session/backup-manager.ts'
import type { ManagerMessage } from '../../../node/session/cluster-manager.ts'
import { sessionCodes } from '../../../node/session/errors.ts'
import { SESSION_MESSAGE } from '../../../node/session/messages.ts'
import { CatteryError, ChannelSendError, codes } from '../../../node/tribes/errors.ts'
import { describeMember, type Member } from '../../../node/tribes/member.ts'
import { peer, replicatedManager, viewChannel } from '../../helpers/managers.ts'

/** A map-member notice from `from`. */
const notice = (m: BackupManager, from: Member, fields: Record<string, unknown>) =>
  m.receive(
    { k: SESSION_MESSAGE, type: 'map-member', ctx: '/app', ...fields } as unknown as ManagerMessage,
    from,
  )

type Sent = ReturnType<typeof viewChannel>['sent']
/** The map-member notices sent, as [to, present, ask]. */
const notices = (sent: Sent) =>
  sent
    .filter((s) => s.message.type === 'map-member')
    .flatMap((s) => s.to.map((t) => [t.name, s.message.present, s.message.ask ?? false]))

const members = (m: BackupManager) => m.stats().placement?.members

const until = async (what: () => boolean, ms: number): Promise<boolean> => {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(20)) if (what()) return true
  return what()
}

describe('BackupManager map members', () => {
  it('at start, announces itself to every member of the view, before its state transfer asks a donor', async () => {
    const donor = { ...peer('n2'), ready: true }
    const net = viewChannel([donor, peer('n3')])
    const m = replicatedManager('backup', net.channel)
    const send = net.channel.send.bind(net.channel)
    net.channel.send = (async (to: Member | Member[], message: Record<string, unknown>, options?: number) => {
      await send(to, message, options)
      if (message.type === 'get-all')
        setImmediate(() =>
          m.receive(
            {
              k: SESSION_MESSAGE,
              type: 'transfer-complete',
              ctx: '/app',
              transfer: message.transfer,
              pages: 0,
              sessions: 0,
            } as never,
            donor,
          ),
        )
    }) as typeof net.channel.send
    await m.start()
    try {
      const types = net.sent.map((s) => s.message.type)
      assert.ok(types.indexOf('map-member') < types.indexOf('get-all'), `announced first: ${types}`)
      assert.deepEqual(notices(net.sent), [
        ['n2', true, true],
        ['n3', true, true],
      ])
      assert.equal(members(m), 1, 'no member answered: placement is this member alone')
    } finally {
      await m.stop()
    }
  })

  it('a member of the view that did not announce the context gets no copy; once it announces, it is answered and placed', async () => {
    const n2 = peer('n2')
    const net = viewChannel([n2])
    const m = replicatedManager('backup', net.channel)
    await m.start()
    try {
      const before = m.createSession()
      await m.requestCompleted(before, true)
      assert.equal(members(m), 1)
      assert.deepEqual(
        net.sent.filter((s) => s.message.type !== 'map-member'),
        [],
        'nothing sent to a member without the context',
      )
      net.sent.length = 0
      notice(m, n2, { present: true, ask: true })
      assert.deepEqual(
        notices(net.sent),
        [['n2', true, false]],
        'answered, to the sender only, without asking back',
      )
      assert.equal(members(m), 2)
      const after = m.createSession()
      await m.requestCompleted(after, true)
      await turn() // a turn's messages leave at its end
      const created = net.sent.filter((s) => s.message.type === 'created')
      assert.deepEqual(
        created.map((s) => s.to.map((t) => t.name)),
        [['n2']],
        'a new session goes to its backup on n2',
      )
      // The copy made while n2 was not a map member reaches it with the repair pass the map change starts.
      assert.ok(
        await until(
          () =>
            net.sent.some(
              (s) =>
                s.message.type === 'backup' &&
                (s.message.sessions as Array<{ id: string }>).some((d) => d.id === before.id),
            ),
          3_000,
        ),
        'the older session was pushed to n2',
      )
    } finally {
      await m.stop()
    }
  })

  it('an answer is not answered, and a member that is not running the context does not answer', async () => {
    const n2 = peer('n2')
    const net = viewChannel([n2])
    const m = replicatedManager('backup', net.channel)
    // Before start: recorded, not answered (this member announces itself when it starts).
    notice(m, n2, { present: true, ask: true })
    assert.deepEqual(notices(net.sent), [])
    assert.equal(members(m), 2)
    await m.start()
    try {
      net.sent.length = 0
      notice(m, n2, { present: true })
      assert.deepEqual(notices(net.sent), [], 'an answer is not answered')
    } finally {
      await m.stop()
    }
  })

  it('a member leaves the map when it says its context stopped, and when it leaves the view; one that appears is asked', async () => {
    const n2 = peer('n2')
    const n3 = peer('n3')
    const net = viewChannel([n2, n3])
    const m = replicatedManager('backup', net.channel)
    await m.start()
    try {
      notice(m, n2, { present: true })
      notice(m, n3, { present: true })
      assert.equal(members(m), 3)
      notice(m, n3, { present: false })
      assert.equal(members(m), 2, 'n3 stopped its context')
      net.setMembers([n3])
      net.channel.emit('memberDisappeared', n2, 'crashed')
      assert.equal(members(m), 1, 'n2 left the view')
      net.sent.length = 0
      net.setMembers([n3, n2])
      net.channel.emit('memberAdded', n2)
      assert.deepEqual(notices(net.sent), [['n2', true, true]], 'a member that appears is asked')
      assert.equal(members(m), 1, 'it is not placed before it answers')
      notice(m, n2, { present: true })
      assert.equal(members(m), 2)
      // A late notice from a member not in the view is not recorded.
      notice(m, peer('n4'), { present: true, ask: true })
      assert.equal(members(m), 2)
    } finally {
      await m.stop()
    }
  })

  it('a member that announced its departure and starts the context again is placed again', async () => {
    const n2 = peer('n2')
    const net = viewChannel([n2])
    const m = replicatedManager('backup', net.channel)
    await m.start()
    try {
      notice(m, n2, { present: true })
      m.receive({ k: SESSION_MESSAGE, type: 'leaving', ctx: '/app' } as ManagerMessage, n2)
      assert.equal(members(m), 1, 'out of placement while it stops')
      notice(m, n2, { present: true, ask: true })
      assert.equal(members(m), 2)
    } finally {
      await m.stop()
    }
  })

  it('a malformed notice is refused and changes nothing', async () => {
    const n2 = peer('n2')
    const m = replicatedManager('backup', viewChannel([n2]).channel)
    for (const fields of [{}, { present: 'yes' }, { present: true, ask: 1 }])
      await assert.rejects(Promise.resolve(notice(m, n2, fields)), (err: CatteryError) => {
        assert.equal(err.code, sessionCodes.REPLICATION_REFUSED)
        return true
      })
    assert.equal(members(m), 1)
    assert.equal(m.stats().placement?.mapNoticesRefused, 3)
  })

  it('an announcement that was not delivered is sent again', async () => {
    const n2 = peer('n2')
    const net = viewChannel([n2])
    const send = net.channel.send.bind(net.channel)
    let refuse = true
    net.channel.send = (async (to: Member | Member[], message: Record<string, unknown>, options?: number) => {
      await send(to, message, options)
      if (refuse && message.type === 'map-member') {
        refuse = false
        const error = new CatteryError(codes.NOT_A_MEMBER, 'not a member of this view')
        throw new ChannelSendError([{ member: describeMember(n2), error }])
      }
    }) as typeof net.channel.send
    const m = replicatedManager('backup', net.channel)
    await m.start()
    try {
      assert.ok(await until(() => notices(net.sent).length === 2, 3_000), 'asked again within 3 s')
      assert.deepEqual(notices(net.sent), [
        ['n2', true, true],
        ['n2', true, true],
      ])
      assert.equal(m.stats().placement?.mapNoticesFailed, 1)
    } finally {
      await m.stop()
    }
  })

  it('a stopping member says so: leaving first, then out of the map on every member', async () => {
    const n2 = peer('n2')
    const n3 = peer('n3')
    const net = viewChannel([n2, n3])
    const m = replicatedManager('backup', net.channel)
    await m.start()
    notice(m, n2, { present: true })
    net.sent.length = 0
    await m.stop()
    assert.deepEqual(
      net.sent.map((s) => [s.message.type, s.message.present, s.to.map((t) => t.name)]),
      [
        ['leaving', undefined, ['n2', 'n3']],
        ['map-member', false, ['n2']],
        ['map-member', false, ['n3']],
      ],
    )
  })
})
