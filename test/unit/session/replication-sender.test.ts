import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setImmediate as nextTurn } from 'node:timers/promises'
import pino from 'pino'
import { newMessageCounts, SESSION_MESSAGE, type SessionMessage } from '../../../node/session/messages.ts'
import { ReplicationSender, SENT } from '../../../node/session/replication-sender.ts'
import type { Channel } from '../../../node/tribes/channel-types.ts'
import type { Member } from '../../../node/tribes/member.ts'
import { peer } from '../../helpers/managers.ts'

const n2 = peer('n2')
const n3 = peer('n3')
const expired = (id: string): SessionMessage => ({ k: SESSION_MESSAGE, type: 'expired', ctx: '/app', id })

/** A sender over a channel with members n2 and n3; `fail` makes every send fail. */
function sender(o: { sendOptions?: number; targets?: Member[]; fail?: boolean } = {}) {
  const sends: Array<{ to: string[]; batch: boolean }> = []
  const failed: string[] = []
  const warnings: string[] = []
  const outcome = async () => {
    if (o.fail) throw Object.assign(new Error('peer gone'), { code: 'CATTERY_ERR_TEST' })
  }
  const channel = {
    members: () => [n2, n3],
    asyncWriteInterval: 10,
    send: (to: Member[]) => {
      sends.push({ to: to.map((m) => m.name), batch: false })
      return outcome()
    },
    sendEncoded: (to: Member[]) => {
      sends.push({ to: to.map((m) => m.name), batch: true })
      return outcome()
    },
  } as unknown as Channel
  const counts = newMessageCounts()
  const s = new ReplicationSender({
    channel,
    contextPath: '/app',
    sendOptions: o.sendOptions ?? 8,
    logger: pino({ level: 'warn' }, { write: (l: string) => void warnings.push(l) }),
    sent: counts,
    targets: () => o.targets ?? [n2, n3],
    failed: (m) => void failed.push((m as { id: string }).id),
  })
  return { s, sends, failed, warnings, counts }
}

test('a message for every member joins the batch and needs no wait (asynchronous); one for some members goes alone', async () => {
  const all = sender()
  assert.equal(all.s.replicate(expired('A')), SENT)
  assert.equal(all.s.replicate(expired('B')), SENT)
  await nextTurn()
  assert.deepEqual(all.sends, [{ to: ['n2', 'n3'], batch: true }])
  assert.equal(all.counts.expired, 2)
  const some = sender({ targets: [n3] })
  assert.equal(await some.s.replicate(expired('C')), true)
  assert.deepEqual(some.sends, [{ to: ['n3'], batch: false }])
})

test('no target: nothing is sent or counted', () => {
  const none = sender({ targets: [] })
  assert.equal(none.s.replicate(expired('A')), SENT)
  assert.equal(none.counts.expired, 0)
})

test('a failed send resolves false, is counted and logged once, and reports every message it carried', async () => {
  const f = sender({ sendOptions: 6, fail: true })
  const outcomes = [f.s.replicate(expired('A')), f.s.replicate(expired('B'))]
  assert.deepEqual(await Promise.all(outcomes), [false, false])
  assert.equal(f.s.failures, 1, 'one batch, one failed send')
  assert.deepEqual(f.failed, ['A', 'B'])
  assert.equal(f.warnings.filter((w) => w.includes('replication failed')).length, 1)
})
