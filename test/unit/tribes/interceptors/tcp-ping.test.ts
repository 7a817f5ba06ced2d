import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { TcpPingInterceptor } from '../../../../node/tribes/interceptors/tcp-ping.ts'
import { harness, peer } from '../../../helpers/interceptor-harness.ts'

describe('TcpPing interceptor', () => {
  it('pings every member each interval and keeps pings from listeners', async () => {
    const i = new TcpPingInterceptor({ type: 'TcpPing', interval: 20 })
    const h = harness(i)
    h.members.push(peer('b'), peer('c'))
    i.start()
    await sleep(70)
    i.stop()
    assert.ok(h.sent.length >= 2)
    assert.deepEqual(h.sent[0]?.message.header, { tp: 1 })
    assert.equal(h.sent[0]?.to.length, 2)
    h.receive(peer('b'), { header: { tp: 1 } })
    h.receive(peer('b'), { header: {} })
    assert.equal(h.delivered.length, 1)
    assert.equal(i.stats().pingsReceived, 1)
  })
})
