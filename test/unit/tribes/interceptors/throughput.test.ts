import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ThroughputInterceptor } from '../../../../node/tribes/interceptors/throughput.ts'
import { harness, peer } from '../../../helpers/interceptor-harness.ts'

describe('Throughput interceptor', () => {
  it('counts messages and bytes both ways', async () => {
    const i = new ThroughputInterceptor({ type: 'Throughput', interval: 2 })
    const h = harness(i)
    await i.sendMessage([peer('b'), peer('c')], { options: 0, header: {}, body: new Uint8Array(100) })
    h.receive(peer('b'), { body: new Uint8Array(10) })
    assert.deepEqual(i.stats(), {
      messagesSent: 2,
      bytesSent: 200,
      messagesReceived: 1,
      bytesReceived: 10,
      sendFailures: 0,
    })
  })
})
