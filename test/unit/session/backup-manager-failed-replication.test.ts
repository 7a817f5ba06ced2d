/**
 * A BackupManager member whose synchronous replication to an owner failed while the view still
 * holds that owner (it did not know this member yet, or its connection broke) pushes the whole copy
 * to it with the next repair pass, instead of leaving it without the copy until the view changes.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { SESSION_MESSAGE } from '../../../node/session/messages.ts'
import { CatteryError, ChannelSendError, codes } from '../../../node/tribes/errors.ts'
import { describeMember, type Member } from '../../../node/tribes/member.ts'
import { peer, replicatedManager, viewChannel } from '../../helpers/managers.ts'

test('a new session the other owner refused (it did not know this member yet) reaches it with the next repair pass', async () => {
  const p2 = peer('n2')
  const net = viewChannel([p2])
  const send = net.channel.send.bind(net.channel)
  let refuse = true
  net.channel.send = (async (to: Member | Member[], message: Record<string, unknown>, options?: number) => {
    await send(to, message, options)
    if (refuse && message.type === 'created') {
      refuse = false
      const error = new CatteryError(codes.NOT_A_MEMBER, 'not a member of this view')
      throw new ChannelSendError([{ member: describeMember(p2), error }])
    }
  }) as typeof net.channel.send
  const m = replicatedManager('backup', net.channel)
  // n2 has the context started (map-members.ts).
  m.receive({ k: SESSION_MESSAGE, type: 'map-member', ctx: '/app', present: true } as never, p2)
  await m.start()
  try {
    // Two members, one backup: both own every session.
    const s = m.createSession()
    s.set('count', 1)
    await m.requestCompleted(s, true)
    const pushed = async () => {
      for (let i = 0; i < 60; i++) {
        const push = net.sent.find(
          (x) =>
            x.message.type === 'backup' &&
            (x.message.sessions as Array<{ id: string }>).some((d) => d.id === s.id) &&
            x.to.some((t) => t.name === 'n2'),
        )
        if (push) return push
        await sleep(50)
      }
      return undefined
    }
    assert.ok(await pushed(), 'the copy was pushed to n2 within 3 s')
  } finally {
    await m.stop()
  }
})
