import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { codes } from '../../../../node/tribes/errors.ts'
import { OrderInterceptor } from '../../../../node/tribes/interceptors/order.ts'
import { harness, peer } from '../../../helpers/interceptor-harness.ts'

const seqOf = (h: ReturnType<typeof harness>) => h.delivered.map((m) => m.header.o)

describe('Order interceptor', () => {
  it('numbers messages per destination', async () => {
    const [b, c] = [peer('b'), peer('c')]
    const i = new OrderInterceptor({ type: 'Order' })
    const h2 = harness(i)
    await i.sendMessage([b, c], { options: 0, header: {}, body: new Uint8Array(1) })
    await i.sendMessage([b], { options: 0, header: {}, body: new Uint8Array(1) })
    assert.deepEqual(
      h2.sent.map((s) => [s.to[0]?.name, s.message.header.o]),
      [
        ['b', 1],
        ['c', 1],
        ['b', 2],
      ],
    )
  })

  it('delivers messages that arrive out of order in sequence', () => {
    const i = new OrderInterceptor({ type: 'Order' })
    const h = harness(i)
    const a = peer('a')
    for (const o of [1, 3, 4, 2, 5]) h.receive(a, { header: { o } })
    assert.deepEqual(seqOf(h), [1, 2, 3, 4, 5])
  })

  it('drops a duplicate it already delivered, acknowledging it', () => {
    const i = new OrderInterceptor({ type: 'Order' })
    const h = harness(i)
    const a = peer('a')
    for (const o of [1, 2, 2]) h.receive(a, { header: { o } })
    assert.deepEqual(seqOf(h), [1, 2])
    assert.equal(h.acks.length, 1)
  })

  it('gives up a gap older than expire and delivers the held messages', async () => {
    const i = new OrderInterceptor({ type: 'Order', expire: 50 })
    const h = harness(i)
    i.start()
    const a = peer('a')
    for (const o of [1, 3, 4]) h.receive(a, { header: { o } })
    assert.deepEqual(seqOf(h), [1])
    await sleep(150)
    i.stop()
    assert.deepEqual(seqOf(h), [1, 3, 4])
    assert.equal(i.stats().expiredGaps, 1)
  })

  it('drops the held messages with ORDER_EXPIRED when forwardExpired is false', async () => {
    const i = new OrderInterceptor({ type: 'Order', expire: 50, forwardExpired: false })
    const h = harness(i)
    i.start()
    const a = peer('a')
    for (const o of [1, 3, 4]) h.receive(a, { header: { o } })
    await sleep(150)
    h.receive(a, { header: { o: 5 } })
    i.stop()
    assert.deepEqual(seqOf(h), [1, 5])
    assert.deepEqual(
      h.acks.filter(Boolean).map((e) => e?.code),
      [codes.ORDER_EXPIRED, codes.ORDER_EXPIRED],
    )
  })

  it('at maxQueue gives up the oldest gap instead of holding more', () => {
    const i = new OrderInterceptor({ type: 'Order', maxQueue: 2 })
    const h = harness(i)
    const a = peer('a')
    for (const o of [1, 3, 4, 5]) h.receive(a, { header: { o } })
    assert.deepEqual(seqOf(h), [1, 3, 4, 5])
  })

  it('passes messages without a sequence number through untouched', () => {
    const h = harness(new OrderInterceptor({ type: 'Order' }))
    h.receive(peer('a'), { header: {} })
    assert.equal(h.delivered.length, 1)
  })
})
