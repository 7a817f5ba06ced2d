import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import pino from 'pino'
import type { FarmEntry } from '../../../node/farm/farm-state.ts'
import type { FarmMessage } from '../../../node/farm/messages.ts'
import { type FarmState, FarmStateExchange } from '../../../node/farm/state-exchange.ts'
import type { Channel } from '../../../node/tribes/channel-types.ts'
import { createLocalMember, type Member } from '../../../node/tribes/member.ts'

const member = (name: string, startTime: number, ready = true): Member => ({
  ...createLocalMember({ host: '127.0.0.1', port: startTime, name }),
  startTime,
  ready,
})
const shop: FarmEntry = { name: 'shop', digest: 'a'.repeat(64), size: 10, stamp: 5, origin: 'n1' }

/** An exchange over a channel whose members and sends the test decides. */
function exchange(view: Member[], deliver: (to: Member, m: FarmMessage) => void) {
  const merged: FarmState[] = []
  const x: FarmStateExchange = new FarmStateExchange({
    channel: {
      members: () => view,
      send: async (to: Member, m: FarmMessage) => {
        await new Promise(setImmediate)
        deliver(to, m)
      },
    } as unknown as Channel,
    logger: pino({ level: 'silent' }),
    held: () => ({ entries: [shop], reports: [] }),
    merge: (s) => void merged.push(s),
  })
  return { x, merged }
}

const round = (asking: (m: Member) => void = () => {}) => ({
  started: Date.now(),
  catchUpTimeoutMs: 60_000,
  stopped: () => false,
  asking,
})

describe('the farm catch-up exchange', () => {
  it('asks the ready members oldest first, past one that cannot be asked, and merges the answer', async () => {
    const asked: string[] = []
    const { x, merged } = exchange(
      [member('young', 3), member('old', 1), member('busy', 2, false)],
      (to, m) => {
        if (to.name === 'old') throw new Error('gone')
        if (m.type === 'state-request')
          x.received({ k: m.k, type: 'state', request: m.request, entries: [shop], reports: [] })
      },
    )
    const r = await x.askDonors(round((m) => asked.push(m.name)))
    assert.deepEqual(r, { answered: true, asked: 2 })
    assert.deepEqual(asked, ['old', 'young'])
    assert.deepEqual(
      merged.map((s) => s.entries),
      [[shop]],
    )
  })

  it('asks nobody when no member is ready', async () => {
    const { x } = exchange([member('busy', 2, false)], () => assert.fail('nobody to ask'))
    assert.deepEqual(await x.askDonors(round()), { answered: false, asked: 0 })
  })

  it('sends what this member holds, and merges a state sent unasked', async () => {
    const sent: FarmMessage[] = []
    const { x, merged } = exchange([], (_to, m) => void sent.push(m))
    await x.send(member('n2', 2), 0)
    assert.deepEqual(sent, [{ k: 'cattery.farm', type: 'state', request: 0, entries: [shop], reports: [] }])
    x.received({ k: 'cattery.farm', type: 'state', request: 0, entries: [], reports: [] })
    assert.equal(merged.length, 1)
  })
})
