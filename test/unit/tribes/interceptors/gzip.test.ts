import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import zlib from 'node:zlib'
import { codes } from '../../../../node/tribes/errors.ts'
import { GzipInterceptor } from '../../../../node/tribes/interceptors/gzip.ts'
import { harness, peer } from '../../../helpers/interceptor-harness.ts'

const settle = () => sleep(50)
/** Inflating runs in libuv's thread pool: wait for its answer, however busy the machine is. */
async function until(done: () => boolean, timeoutMs = 5_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !done() && Date.now() < deadline; ) await sleep(10)
}

describe('Gzip interceptor', () => {
  it('compresses a large compressible body and restores it', async () => {
    const sender = new GzipInterceptor({ type: 'Gzip' })
    const hs = harness(sender)
    const data = Buffer.from(JSON.stringify(Array.from({ length: 50_000 }, (_, i) => ({ i, n: 'x' }))))
    await sender.sendMessage([peer('b')], { options: 0, header: {}, body: data })
    const out = hs.sent[0]?.message
    assert.equal(out?.header.z, 1)
    assert.ok((out?.body.length ?? 0) < data.length / 5)
    const receiver = new GzipInterceptor({ type: 'Gzip' })
    const hr = harness(receiver)
    hr.receive(peer('a'), out ?? {})
    await settle()
    assert.ok(Buffer.from(hr.delivered[0]?.body as Uint8Array).equals(data))
    assert.deepEqual(hr.delivered[0]?.header, {})
  })

  it('keeps order when a large compressed message is followed by small ones', async () => {
    const i = new GzipInterceptor({ type: 'Gzip', minSize: 100 })
    const h = harness(i)
    const big = Buffer.alloc(1 << 20, 'a')
    await Promise.all([
      i.sendMessage([peer('b')], { options: 0, header: { n: 1 }, body: big }),
      i.sendMessage([peer('b')], { options: 0, header: { n: 2 }, body: Buffer.from('tiny') }),
    ])
    assert.deepEqual(
      h.sent.map((s) => s.message.header.n),
      [1, 2],
    )
    const r = new GzipInterceptor({ type: 'Gzip' })
    const hr = harness(r)
    for (const s of h.sent) hr.receive(peer('a'), s.message)
    await settle()
    assert.deepEqual(
      hr.delivered.map((m) => m.header.n),
      [1, 2],
    )
  })

  it('refuses a zip bomb with GZIP_FAILED instead of inflating it', async () => {
    const h = harness(new GzipInterceptor({ type: 'Gzip', maxMessageSize: 1 << 20 }))
    const bomb = zlib.gzipSync(Buffer.alloc(50 << 20))
    h.receive(peer('a'), { header: { z: 1 }, body: bomb })
    await until(() => h.acks.length > 0 || h.delivered.length > 0)
    assert.equal(h.delivered.length, 0)
    assert.equal(h.acks[0]?.code, codes.GZIP_FAILED)
  })

  it('leaves bodies under minSize alone', async () => {
    const i = new GzipInterceptor({ type: 'Gzip' })
    const h = harness(i)
    await i.sendMessage([peer('b')], { options: 0, header: {}, body: Buffer.alloc(100, 'a') })
    assert.equal(h.sent[0]?.message.header.z, undefined)
  })
})
