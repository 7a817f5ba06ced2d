/**
 * A BackupManager member drops its copy of a session it does not own once the owners confirmed it
 * (here after a change of id, #release; a repair pass does the same), maybe while a request it
 * serves uses that copy. The request's write is acknowledged to its client: it must still reach the
 * owners (it was lost: the next request elsewhere read the state before it).
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { setImmediate as turn } from 'node:timers/promises'
import type { ManagerMessage } from '../../../node/session/cluster-manager.ts'
import { SESSION_MESSAGE } from '../../../node/session/messages.ts'
import { PlacementView } from '../../../node/session/placement.ts'
import { writerOf } from '../../../node/session/rank.ts'
import { peer, replicatedManager, sessionData, viewChannel } from '../../helpers/managers.ts'

test('a write made on a copy dropped while the request ran still goes to the owners', async () => {
  const p2 = peer('n2')
  const p3 = peer('n3')
  const net = viewChannel([p2])
  const m = replicatedManager('backup', net.channel)
  // Members that have the context started announce it (map-members.ts): placement is over them.
  const announce = (from: typeof p2) =>
    m.receive({ k: SESSION_MESSAGE, type: 'map-member', ctx: '/app', present: true } as never, from)
  announce(p2)
  await m.start()
  try {
    const [self, w2, w3] = [writerOf(net.channel.localMember), writerOf(p2), writerOf(p3)]
    // A session this member owns with n2 (the only two), and that n2 and n3 own once n3 joins.
    const three = new PlacementView([self, w2, w3])
    let key = ''
    do key = randomBytes(16).toString('hex').toUpperCase()
    while (three.owners(key, 2).includes(self))
    const created = sessionData(`${key}.n2`, { writer: w2, attributes: [['count', 1]] })
    m.receive({ k: SESSION_MESSAGE, type: 'created', ctx: '/app', session: created } as ManagerMessage, p2)
    // A request here finds the copy; meanwhile n3 joins and n2 renames the session.
    const session = await m.findSession(`${key}.n2`)
    assert.ok(session, 'held here')
    net.setMembers([p2, p3])
    announce(p3)
    const change = { k: SESSION_MESSAGE, type: 'change-id', ctx: '/app', id: `${key}.n2` }
    m.receive({ ...change, newId: `${key}.n3`, v: 2, w: w2, b: w2 } as ManagerMessage, p2)
    for (let i = 0; i < 5 && m.peekSession(key); i++) await turn()
    assert.equal(m.peekSession(key), undefined, 'the copy was handed to its owners and dropped')
    // The request completes: its write is acknowledged to the client.
    session.set('count', 2)
    await m.requestCompleted(session, true)
    const deltas = net.sent.filter((s) => s.message.type === 'delta')
    assert.equal(deltas.length, 1, 'the write was sent')
    const [delta] = deltas as [{ to: (typeof p2)[]; message: Record<string, unknown> }]
    assert.deepEqual(delta.to.map((x) => x.name).sort(), ['n2', 'n3'], 'to the owners')
    assert.deepEqual(
      { v: delta.message.v, b: delta.message.b, actions: delta.message.actions },
      { v: 3, b: w2, actions: [['set', 'count', 2]] },
      'after the state the owners hold',
    )
  } finally {
    await m.stop()
  }
})
