import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Channel } from '../../node/tribes/channel-types.ts'
import { codes } from '../../node/tribes/errors.ts'
import { SendOption } from '../../node/tribes/send-options.ts'
import { encodeFrame, FrameKind } from '../../node/tribes/transport/frame.ts'
import { memberNamed, startChannels, stopChannels, type TestChannel } from '../helpers/channels.ts'

/** Connects to the receiver, writes `bytes`, and resolves when the receiver closes the connection. */
function sendRaw(port: number, bytes: Buffer, keepOpenMs = 0): Promise<{ closedByPeer: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.write(bytes)
      if (keepOpenMs) setTimeout(() => s.end(), keepOpenMs)
    })
    s.on('error', () => {})
    s.on('data', () => {})
    s.on('close', () => resolve({ closedByPeer: true }))
  })
}

describe('hostile input on the receiver port', () => {
  let cs: TestChannel[] = []
  let a: Channel
  let b: Channel
  before(async () => {
    cs = await startChannels(2, { receiver: { host: '127.0.0.1', frameTimeout: 400 } })
    a = cs[0]?.channel as Channel
    b = cs[1]?.channel as Channel
  })
  after(() => stopChannels(cs))

  const stillReplicating = async () => {
    let got = 0
    const l = { messageReceived: () => void got++ }
    a.addChannelListener(l)
    await b.send(memberNamed(b, 'c1'), { still: 'alive' }, SendOption.SYNCHRONIZED_ACK)
    a.removeChannelListener(l)
    assert.equal(got, 1)
  }
  const refused = (code: string) => a.stats().framesRefused[code] ?? 0
  const logged = (code: string) => (cs[0]?.logs ?? []).some((l) => l.code === code)

  const cases: Array<[string, () => Buffer, string]> = [
    ['random bytes', () => randomBytes(4096), codes.FRAME_BAD_MAGIC],
    [
      'a frame announcing 4 GiB',
      () => {
        const [h] = encodeFrame(FrameKind.MESSAGE, 0, 1, undefined, new Uint8Array(0)) as [Buffer]
        h.writeUInt32BE(0xffffffff, 16)
        return h
      },
      codes.FRAME_TOO_LARGE,
    ],
    [
      'a wrong protocol version',
      () => {
        const [h] = encodeFrame(FrameKind.PING, 0, 1, undefined, new Uint8Array(0)) as [Buffer]
        h[4] = 9
        return h
      },
      codes.FRAME_BAD_VERSION,
    ],
    [
      'a message before any HELLO',
      () => Buffer.concat(encodeFrame(FrameKind.MESSAGE, 0, 1, undefined, Buffer.from([0xc0]))),
      codes.NO_HANDSHAKE,
    ],
  ]
  for (const [what, bytes, code] of cases) {
    it(`refuses ${what} with ${code}, closes the connection, and keeps replicating`, async () => {
      const before = refused(code)
      const r = await sendRaw(a.localMember.port, bytes())
      assert.equal(r.closedByPeer, true)
      assert.equal(refused(code), before + 1)
      assert.ok(logged(code), `no log line with code ${code}`)
      await stillReplicating()
    })
  }

  it(`refuses a frame cut in the middle with ${codes.FRAME_TRUNCATED}, and keeps replicating`, async () => {
    const before = refused(codes.FRAME_TRUNCATED)
    const frame = Buffer.concat(encodeFrame(FrameKind.PING, 0, 1, undefined, Buffer.alloc(1000)))
    await new Promise<void>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: a.localMember.port }, () =>
        s.end(frame.subarray(0, 500)),
      )
      s.on('close', () => resolve())
      s.on('error', () => {})
    })
    for (let i = 0; i < 50 && refused(codes.FRAME_TRUNCATED) === before; i++) await sleep(10)
    assert.equal(refused(codes.FRAME_TRUNCATED), before + 1)
    assert.ok(logged(codes.FRAME_TRUNCATED))
    await stillReplicating()
  })

  it(`cuts off a slow sender that never finishes its frame with ${codes.FRAME_TIMEOUT}`, async () => {
    const before = refused(codes.FRAME_TIMEOUT)
    const frame = Buffer.concat(encodeFrame(FrameKind.PING, 0, 1, undefined, Buffer.alloc(1000)))
    const started = Date.now()
    const closed = new Promise<number>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: a.localMember.port }, () => {
        let off = 0
        const drip = setInterval(() => {
          if (s.destroyed || off >= 600) return clearInterval(drip)
          s.write(frame.subarray(off, off + 10))
          off += 10
        }, 50)
      })
      s.on('close', () => resolve(Date.now() - started))
      s.on('error', () => {})
    })
    const took = await closed
    assert.equal(refused(codes.FRAME_TIMEOUT), before + 1)
    assert.ok(took < 2000, `slow sender was cut after ${took} ms`)
    assert.ok(logged(codes.FRAME_TIMEOUT))
    await stillReplicating()
  })
})
