import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { describe, it } from 'node:test'
import { MEMBERSHIP_LOG_SIZE, MembershipLog } from '../../../node/server/dashboard/membership-log.ts'
import type { Channel } from '../../../node/tribes/channel-types.ts'

const member = (name: string, port: number) => ({ name, host: '127.0.0.1', port })

describe('membership log', () => {
  it("records the channel's joins and departures with their reason, newest first", () => {
    const channel = new EventEmitter()
    const log = new MembershipLog(channel as unknown as Channel)
    channel.emit('memberAdded', member('n2', 4001))
    channel.emit('memberDisappeared', member('n2', 4001), 'timeout')
    const [left, joined] = log.recent()
    assert.deepEqual(
      { event: left?.event, member: left?.member, address: left?.address, reason: left?.reason },
      { event: 'left', member: 'n2', address: '127.0.0.1:4001', reason: 'timeout' },
    )
    assert.equal(joined?.event, 'joined')
    assert.equal(joined?.reason, undefined)
  })

  it(`keeps the last ${MEMBERSHIP_LOG_SIZE} events and counts all of them`, () => {
    const channel = new EventEmitter()
    const log = new MembershipLog(channel as unknown as Channel)
    for (let i = 0; i < 120; i++) channel.emit('memberAdded', member(`m${i}`, 5000 + i))
    const recent = log.recent()
    assert.equal(recent.length, MEMBERSHIP_LOG_SIZE)
    assert.equal(recent[0]?.member, 'm119')
    assert.equal(recent.at(-1)?.member, `m${120 - MEMBERSHIP_LOG_SIZE}`)
    assert.deepEqual(log.counts(), [{ event: 'joined', reason: '', count: 120 }])
  })

  it("bounds the reasons it counts: beyond the bound they are counted as 'other'", () => {
    const log = new MembershipLog(new EventEmitter() as unknown as Channel, 4)
    for (let i = 0; i < 100; i++)
      log.record({ at: i, event: 'left', member: 'x', address: 'a:1', reason: `reason-${i}` })
    const counts = log.counts()
    assert.ok(counts.length <= 33, `${counts.length} reasons kept`)
    const other = counts.find((c) => c.reason === 'other')
    assert.equal(other?.count, 100 - 32)
    assert.equal(log.recent().length, 4)
  })

  it('stops recording once closed', () => {
    const channel = new EventEmitter()
    const log = new MembershipLog(channel as unknown as Channel)
    log.close()
    channel.emit('memberAdded', member('n2', 4001))
    assert.deepEqual(log.recent(), [])
  })
})
