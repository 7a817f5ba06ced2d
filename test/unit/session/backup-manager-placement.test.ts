/**
 * The BackupManager's placement view is cached by the channel's view version. A message routed to a
 * context before its manager started (or a /status read meanwhile) makes a view that lacks this
 * member; once started, the manager places sessions with itself in the view, though the channel's
 * view did not change.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SESSION_MESSAGE } from '../../../node/session/messages.ts'
import { peer, replicatedManager, viewChannel } from '../../helpers/managers.ts'

test('a placement view asked for before start does not outlive it: sessions created after start are primaries here', async () => {
  const n2 = peer('n2')
  const m = replicatedManager('backup', viewChannel([n2]).channel)
  // n2 has the context started (map-members.ts).
  m.receive({ k: SESSION_MESSAGE, type: 'map-member', ctx: '/app', present: true } as never, n2)
  // What /status shows before the context started.
  assert.equal(m.stats().placement?.members, 2)
  await m.start()
  try {
    for (let i = 0; i < 20; i++) m.createSession()
    const stats = m.stats()
    assert.deepEqual(
      { primary: stats.primary, backup: stats.backup, proxy: stats.proxy },
      { primary: 20, backup: 0, proxy: 0 },
      'its creator is each session primary',
    )
  } finally {
    await m.stop()
  }
})
