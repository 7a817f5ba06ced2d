import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import net from 'node:net'
import { after, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Channel, ReceivedMessage } from '../../node/tribes/channel-types.ts'
import { type ChannelSendError, codes } from '../../node/tribes/errors.ts'
import type { Member } from '../../node/tribes/member.ts'
import type { InterceptorConfig } from '../../node/tribes/options.ts'
import { SendOption } from '../../node/tribes/send-options.ts'
import { memberNamed, startChannels, stopChannels, type TestChannel } from '../helpers/channels.ts'

const SYNC = SendOption.SYNCHRONIZED_ACK | SendOption.USE_ACK
const base: InterceptorConfig[] = [{ type: 'TcpFailureDetector' }, { type: 'MessageDispatch' }]
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

/** Resolves with the next payload `channel` receives. */
function nextPayload(channel: Channel): Promise<unknown> {
  return new Promise((resolve) => {
    const l = {
      messageReceived: (m: ReceivedMessage) => {
        channel.removeChannelListener(l)
        resolve(m.payload)
      },
    }
    channel.addChannelListener(l)
  })
}

describe('large messages', () => {
  const all: TestChannel[] = []
  after(() => stopChannels(all))

  it('a 20 MB message is refused without Fragmentation, naming the limit', async () => {
    const cs = await startChannels(2, { interceptors: base })
    all.push(...cs)
    const [a] = cs.map((c) => c.channel) as [Channel]
    await assert.rejects(
      a.send(memberNamed(a, 'c2'), randomBytes(20 << 20), SYNC),
      (err: ChannelSendError) => {
        assert.equal(err.failures[0]?.error.code, codes.MESSAGE_TOO_LARGE)
        assert.match(err.failures[0]?.error.message ?? '', /Fragmentation/)
        return true
      },
    )
  })

  it('Fragmentation carries a 20 MB random message byte for byte', async () => {
    const cs = await startChannels(2, { interceptors: [...base, { type: 'Fragmentation' }] })
    all.push(...cs)
    const [a, b] = cs.map((c) => c.channel) as [Channel, Channel]
    const data = randomBytes(20 << 20)
    const got = nextPayload(b)
    await a.send(memberNamed(a, 'c2'), data, SYNC)
    assert.equal(sha((await got) as Uint8Array), sha(data))
  })

  it('Gzip over Fragmentation carries a 20 MB compressible message and sends less', async () => {
    const cs = await startChannels(2, {
      interceptors: [...base, { type: 'Gzip' }, { type: 'Fragmentation' }],
    })
    all.push(...cs)
    const [a, b] = cs.map((c) => c.channel) as [Channel, Channel]
    const rows = Array.from({ length: 200_000 }, (_, i) => ({ id: i, name: `user-${i}`, roles: ['a', 'b'] }))
    const got = nextPayload(b)
    await a.send(memberNamed(a, 'c2'), rows, SYNC)
    assert.deepEqual(await got, rows)
    assert.ok(a.stats().bytesSent < 5 << 20, `sent ${a.stats().bytesSent} bytes for ~20 MB of rows`)
  })
})

describe('Encrypt', () => {
  const all: TestChannel[] = []
  after(() => stopChannels(all))
  process.env.CATTERY_TEST_KEY_A = randomBytes(32).toString('hex')
  process.env.CATTERY_TEST_KEY_B = randomBytes(32).toString('hex')
  const encrypt = (env: string): InterceptorConfig[] => [...base, { type: 'Encrypt', keyEnv: env }]

  it('members sharing a key exchange messages', async () => {
    const cs = await startChannels(2, { interceptors: encrypt('CATTERY_TEST_KEY_A') })
    all.push(...cs)
    const [a, b] = cs.map((c) => c.channel) as [Channel, Channel]
    const got = nextPayload(b)
    await a.send(memberNamed(a, 'c2'), { secret: 'sauce' }, SYNC)
    assert.deepEqual(await got, { secret: 'sauce' })
  })

  it('a member with the wrong key is refused and counted', async () => {
    const cs = await startChannels(2, {}, (i) => ({
      interceptors: encrypt(i === 0 ? 'CATTERY_TEST_KEY_A' : 'CATTERY_TEST_KEY_B'),
    }))
    all.push(...cs)
    const [a, b] = cs.map((c) => c.channel) as [Channel, Channel]
    await assert.rejects(a.send(memberNamed(a, 'c2'), 'hello', SYNC), (err: ChannelSendError) => {
      assert.equal(err.failures[0]?.error.code, codes.REMOTE_FAILURE)
      assert.match(err.failures[0]?.error.message ?? '', new RegExp(codes.ENCRYPT_AUTH_FAILED))
      return true
    })
    assert.equal(b.stats().interceptors.Encrypt?.authFailures, 1)
  })

  it('a recorded frame replayed on a new connection is refused and counted', async () => {
    const cs = await startChannels(2, { interceptors: encrypt('CATTERY_TEST_KEY_A') })
    all.push(...cs)
    const [a, b] = cs.map((c) => c.channel) as [Channel, Channel]
    const target = memberNamed(a, 'c2')
    // A recording proxy in front of c2: what c1 writes through it is kept for the replay.
    const recorded: Buffer[] = []
    const proxy = net.createServer((inbound) => {
      const out = net.connect({ host: target.host, port: target.port })
      inbound.on('data', (d: Buffer) => {
        recorded.push(d)
        out.write(d)
      })
      out.pipe(inbound)
      inbound.on('error', () => out.destroy())
      out.on('error', () => inbound.destroy())
    })
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r))
    // Another uniqueId, so the transport opens a connection of its own through the proxy.
    const viaProxy: Member = {
      ...target,
      port: (proxy.address() as net.AddressInfo).port,
      uniqueId: randomBytes(16),
    }
    let delivered = 0
    b.addChannelListener({ messageReceived: () => void delivered++ })
    await a.send(viaProxy, { transfer: 100 }, SYNC)
    assert.equal(delivered, 1)
    const replay = net.connect({ host: target.host, port: target.port })
    await new Promise((r) => replay.once('connect', r))
    replay.write(Buffer.concat(recorded))
    for (let i = 0; i < 100 && (b.stats().interceptors.Encrypt?.replays ?? 0) === 0; i++) await sleep(10)
    replay.destroy()
    proxy.close()
    assert.equal(delivered, 1, 'the replayed message must not be delivered')
    assert.equal(b.stats().interceptors.Encrypt?.replays, 1)
  })
})
