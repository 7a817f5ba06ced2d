import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'
import { codes } from '../../../../node/tribes/errors.ts'
import { EncryptInterceptor } from '../../../../node/tribes/interceptors/encrypt.ts'
import { harness } from '../../../helpers/interceptor-harness.ts'

process.env.CATTERY_UNIT_KEY = randomBytes(32).toString('base64')
const cfg = { type: 'Encrypt', keyEnv: 'CATTERY_UNIT_KEY' } as const

function pair(receiverKey = cfg) {
  const sender = new EncryptInterceptor(cfg)
  const hs = harness(sender)
  const receiver = new EncryptInterceptor(receiverKey)
  const hr = harness(receiver)
  return { sender, hs, receiver, hr }
}

describe('Encrypt interceptor', () => {
  it('seals header and body, and opens them on the other side', async () => {
    const { sender, hs, hr } = pair()
    await sender.sendMessage([hr.local], {
      options: 2,
      header: { f: [1, 0, 2] },
      body: Buffer.from('secret'),
    })
    const wire = hs.sent[0]?.message
    assert.deepEqual(Object.keys(wire?.header ?? {}), ['e'])
    assert.ok(!Buffer.from(wire?.body as Uint8Array).includes('secret'))
    hr.receive(hs.local, wire ?? {})
    assert.equal(Buffer.from(hr.delivered[0]?.body as Uint8Array).toString(), 'secret')
    assert.deepEqual(hr.delivered[0]?.header, { f: [1, 0, 2] })
  })

  it('refuses and counts a message sealed with another key', async () => {
    const keyFile = path.join(os.tmpdir(), `cattery-key-${process.pid}`)
    writeFileSync(keyFile, randomBytes(32).toString('hex'))
    const { sender, hs, receiver, hr } = pair({ type: 'Encrypt', keyFile } as never)
    await sender.sendMessage([hr.local], { options: 0, header: {}, body: Buffer.from('x') })
    hr.receive(hs.local, hs.sent[0]?.message ?? {})
    assert.equal(hr.delivered.length, 0)
    assert.equal(hr.acks[0]?.code, codes.ENCRYPT_AUTH_FAILED)
    assert.equal(receiver.stats().authFailures, 1)
  })

  it('refuses and counts a replayed message, and accepts a late one within the window', async () => {
    const { sender, hs, receiver, hr } = pair()
    for (let i = 0; i < 3; i++)
      await sender.sendMessage([hr.local], { options: 0, header: {}, body: Buffer.from([i]) })
    const [m1, m2, m3] = hs.sent.map((s) => s.message)
    hr.receive(hs.local, m1 ?? {})
    hr.receive(hs.local, m3 ?? {})
    hr.receive(hs.local, m2 ?? {}) // late but new: accepted
    hr.receive(hs.local, m3 ?? {}) // replay
    assert.equal(hr.delivered.length, 3)
    assert.equal(hr.acks.at(-1)?.code, codes.ENCRYPT_REPLAY)
    assert.equal(receiver.stats().replays, 1)
  })

  it('refuses a frame replayed under another sender id', async () => {
    const { sender, hs, hr } = pair()
    await sender.sendMessage([hr.local], { options: 0, header: {}, body: Buffer.from('x') })
    hr.receive(hr.local, hs.sent[0]?.message ?? {})
    assert.equal(hr.acks[0]?.code, codes.ENCRYPT_AUTH_FAILED)
  })

  it('names the key file and what is wrong with it', () => {
    const keyFile = path.join(os.tmpdir(), `cattery-badkey-${process.pid}`)
    writeFileSync(keyFile, 'too-short')
    assert.throws(
      () => new EncryptInterceptor({ type: 'Encrypt', keyFile }),
      (err: Error & { code: string }) => {
        assert.equal(err.code, codes.ENCRYPT_KEY)
        assert.match(err.message, new RegExp(`key file ${keyFile}`))
        assert.match(err.message, /64 hex characters or base64 of 32 bytes/)
        return true
      },
    )
    assert.throws(() => new EncryptInterceptor({ type: 'Encrypt', keyEnv: 'CATTERY_NOT_SET' }), /is not set/)
  })
})
