import assert from 'node:assert/strict'
import { test } from 'node:test'
import pino from 'pino'
import { DeltaManager } from '../../../node/session/delta-manager.ts'
import { SESSION_MESSAGE } from '../../../node/session/messages.ts'
import type { Member } from '../../../node/tribes/member.ts'
import { lonelyChannel, managerSettings } from '../../helpers/managers.ts'

const peer = {
  name: 'p1',
  host: '127.0.0.1',
  port: 1,
  uniqueId: 'u',
  startTime: 0,
  ready: true,
} as unknown as Member

/** A manager alone (no members, so no state transfer), fed batches as the cluster would. */
async function manager(warnings: string[]) {
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) })
  const { type: _type, ...settings } = managerSettings({
    sessionTimeout: 30,
    notifyListenersOnReplication: true,
  })
  const m = new DeltaManager({ ...settings, contextPath: '/app', logger, channel: lonelyChannel() })
  await m.start()
  return m
}

const data = (id: string) => ({
  id,
  creationTime: 1,
  lastAccessedTime: 1,
  maxInactiveInterval: 1800,
  principal: undefined,
  authType: undefined,
  version: 1,
  attributes: [['a', 1]] as Array<[string, unknown]>,
})

test('a replication batch is applied in order, and a malformed message in it is skipped and logged, not the rest', async () => {
  const warnings: string[] = []
  const m = await manager(warnings)
  m.receive(
    {
      k: SESSION_MESSAGE,
      type: 'batch',
      ctx: '/app',
      messages: [
        { type: 'created', session: data('S1.n2') },
        'not a message',
        { type: 'get-all', transfer: 1 },
        { type: 'batch', messages: [] },
        { type: 'delta', id: 'S1.n2', v: 2, a: 5, actions: 'not a list' },
        { type: 'delta', id: 'S1.n2', v: 2, a: 5, actions: [['set', 'a', 2]] },
      ],
    },
    peer,
  )
  assert.equal(m.peekSession('S1.n2')?.get('a'), 2, 'the creation and the delta after the bad ones applied')
  assert.equal(warnings.filter((w) => w.includes('malformed message in a replication batch')).length, 3)
  // The delta without a list of actions is refused as malformed (replicated-checks.ts), and counted.
  assert.equal(warnings.filter((w) => w.includes('"reason":"malformed"')).length, 1)
  assert.deepEqual(m.stats().refused, { malformed: 1 })
  await m.stop()
})
