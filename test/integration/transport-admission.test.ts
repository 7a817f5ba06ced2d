/**
 * A message from a sender that is not in the view yet, while the membership is pinging that sender
 * (node/tribes/transport/transport.ts): members admit each other by their own pings, so the one that
 * admitted the other first may send before the other's ping was answered. The message waits for that
 * answer and is then delivered, or refused if the sender was not admitted; with no ping under way it
 * is refused at once. A real receiver on loopback, a peer speaking the wire format, the membership
 * faked (the unit seam).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import pino from 'pino'
import { encodePlain } from '../../node/tribes/codec.ts'
import { codes } from '../../node/tribes/errors.ts'
import type { IncomingMessage } from '../../node/tribes/interceptor.ts'
import { createLocalMember, type Member, toWire } from '../../node/tribes/member.ts'
import { ChannelSecurity } from '../../node/tribes/security/channel-security.ts'
import { FrameKind } from '../../node/tribes/transport/frame.ts'
import { Transport } from '../../node/tribes/transport/transport.ts'
import { HostilePeer } from '../helpers/hostile-peer.ts'
import { freePorts } from '../helpers/node-process.ts'

const USE_ACK = 2

describe('a message from a sender being admitted', () => {
  const delivered: IncomingMessage[] = []
  let admitted = false
  let ping: PromiseWithResolvers<void> | undefined
  let transport: Transport
  let port = 0
  before(async () => {
    ;[port] = (await freePorts(1)) as [number]
    const local = createLocalMember({ host: '127.0.0.1', port, name: 'n1' })
    transport = new Transport(
      { host: '127.0.0.1', port, autoBind: 1, maxFrameBytes: 1 << 20, frameTimeout: 5000 },
      { timeout: 3000, maxRetryAttempts: 1, asyncWriteInterval: 10 },
      {
        message: (m) => {
          delivered.push(m)
          m.done()
        },
        suspect: () => {},
        bye: () => {},
        pinged: () => {},
        localWire: () => encodePlain(toWire(local)),
        knows: (_m: Member) => admitted,
        admission: () => ping?.promise,
      },
      pino({ level: 'silent' }),
      new ChannelSecurity('none (loopback)', undefined),
    )
    await transport.start()
  })
  after(() => transport.stop())

  /** A sender not in the view, connected and past HELLO; `pending`: the ping of it under way, if any. */
  const unknownSender = async (pending: PromiseWithResolvers<void> | undefined) => {
    admitted = false
    ping = pending
    delivered.length = 0
    const peer = await HostilePeer.connect(port)
    peer.hello()
    return peer
  }

  it('waits for the ping under way and is delivered, in order, once the sender is admitted', async () => {
    const peer = await unknownSender(Promise.withResolvers<void>())
    peer.message({ n: 1 }, USE_ACK, 7)
    peer.message({ n: 2 }, USE_ACK, 8)
    assert.equal(await peer.next((f) => f.id === 7, 200), undefined, 'no answer while the ping is under way')
    assert.equal(delivered.length, 0)
    admitted = true
    ping?.resolve()
    assert.equal((await peer.next((f) => f.id === 7))?.kind, FrameKind.ACK)
    assert.equal((await peer.next((f) => f.id === 8))?.kind, FrameKind.ACK)
    assert.equal(delivered.length, 2)
    peer.close()
  })

  it('is refused (FAIL_ACK NOT_A_MEMBER) when the ping ends without admitting the sender', async () => {
    const peer = await unknownSender(Promise.withResolvers<void>())
    peer.message({ n: 1 }, USE_ACK, 7)
    ping?.resolve()
    const answer = await peer.next((f) => f.id === 7)
    assert.equal(answer?.kind, FrameKind.FAIL_ACK)
    assert.match(String(answer?.body), new RegExp(`^${codes.NOT_A_MEMBER} `))
    assert.equal(delivered.length, 0)
    peer.close()
  })

  it('is refused at once when no ping of the sender is under way', async () => {
    const peer = await unknownSender(undefined)
    peer.message({ n: 1 }, USE_ACK, 7)
    const answer = await peer.next((f) => f.id === 7, 1000)
    assert.equal(answer?.kind, FrameKind.FAIL_ACK)
    assert.equal(delivered.length, 0)
    peer.close()
  })
})
