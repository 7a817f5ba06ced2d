import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { codes } from '../../../../node/tribes/errors.ts'
import { FragmentationInterceptor } from '../../../../node/tribes/interceptors/fragmentation.ts'
import { harness, peer } from '../../../helpers/interceptor-harness.ts'

describe('Fragmentation interceptor', () => {
  it('splits a 20 MB message into pieces of at most maxSize and joins them byte for byte', async () => {
    const sender = new FragmentationInterceptor({ type: 'Fragmentation' })
    const hs = harness(sender)
    const receiver = new FragmentationInterceptor({ type: 'Fragmentation' })
    const hr = harness(receiver)
    const data = randomBytes(20 << 20)
    await sender.sendMessage([peer('b')], { options: 4, header: { k: 1 }, body: data })
    assert.equal(hs.sent.length, Math.ceil(data.length / 102_400))
    assert.ok(hs.sent.every((s) => s.message.body.length <= 102_400))
    const from = peer('a')
    for (const s of hs.sent) hr.receive(from, s.message)
    assert.equal(hr.delivered.length, 1)
    assert.ok(Buffer.from(hr.delivered[0]?.body as Uint8Array).equals(data))
    assert.deepEqual(hr.delivered[0]?.header, { k: 1 })
    assert.equal(hr.delivered[0]?.options, 4)
  })

  it('leaves small messages whole', async () => {
    const i = new FragmentationInterceptor({ type: 'Fragmentation' })
    const h = harness(i)
    await i.sendMessage([peer('b')], { options: 0, header: {}, body: new Uint8Array(100) })
    assert.equal(h.sent[0]?.message.header.f, undefined)
  })

  it('drops an incomplete message after expire, with FRAGMENT_EXPIRED counted', async () => {
    const i = new FragmentationInterceptor({ type: 'Fragmentation', expire: 50 })
    const h = harness(i)
    i.start()
    h.receive(peer('a'), { header: { f: [1, 0, 3] }, body: new Uint8Array(10) })
    await sleep(150)
    i.stop()
    assert.equal(i.stats().expired, 1)
    assert.equal(i.stats().heldBytes, 0)
    assert.equal(h.delivered.length, 0)
  })

  for (const f of [[1, 5, 3], [1, -1, 3], 'x', [1, 0, 0], [1, 0, 1e9], [1.5, 0, 2]]) {
    it(`refuses the hostile fragment header ${JSON.stringify(f)} without crashing`, () => {
      const h = harness(new FragmentationInterceptor({ type: 'Fragmentation' }))
      h.receive(peer('a'), { header: { f }, body: new Uint8Array(10) })
      assert.equal(h.acks[0]?.code, codes.FRAGMENT_LIMIT)
      assert.equal(h.delivered.length, 0)
    })
  }

  it('refuses a message that grows past maxMessageSize', () => {
    const h = harness(new FragmentationInterceptor({ type: 'Fragmentation', maxMessageSize: 4096 }))
    const a = peer('a')
    h.receive(a, { header: { f: [1, 0, 3] }, body: new Uint8Array(3000) })
    h.receive(a, { header: { f: [1, 1, 3] }, body: new Uint8Array(3000) })
    assert.equal(h.acks[1]?.code, codes.FRAGMENT_LIMIT)
  })
})
