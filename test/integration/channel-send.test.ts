import assert from 'node:assert/strict'
import net from 'node:net'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ReceivedMessage } from '../../node/tribes/channel-types.ts'
import { type ChannelSendError, codes } from '../../node/tribes/errors.ts'
import { createLocalMember } from '../../node/tribes/member.ts'
import { SendOption } from '../../node/tribes/send-options.ts'
import { memberNamed, startChannels, stopChannels, type TestChannel } from '../helpers/channels.ts'

const { ASYNCHRONOUS, USE_ACK, SYNCHRONIZED_ACK } = SendOption

describe('channel send options on real sockets', () => {
  let cs: TestChannel[] = []
  before(async () => {
    cs = await startChannels(3)
  })
  after(() => stopChannels(cs))

  it('keeps per-sender order under load, for asynchronous and ACK sends alike', async () => {
    const [a, b, c] = cs.map((x) => x.channel) as [
      TestChannel['channel'],
      TestChannel['channel'],
      TestChannel['channel'],
    ]
    const got = { b: [] as number[], c: [] as number[] }
    const lb = { messageReceived: (m: ReceivedMessage) => void got.b.push((m.payload as { i: number }).i) }
    const lc = { messageReceived: (m: ReceivedMessage) => void got.c.push((m.payload as { i: number }).i) }
    b.addChannelListener(lb)
    c.addChannelListener(lc)
    const to = [memberNamed(a, 'c2'), memberNamed(a, 'c3')]
    const n = 20_000
    const sends: Promise<void>[] = []
    for (let i = 0; i < n; i++)
      sends.push(a.send(to, { i, pad: 'x'.repeat(200) }, i % 3 === 0 ? USE_ACK : ASYNCHRONOUS))
    await Promise.all(sends)
    const deadline = Date.now() + 10_000
    while ((got.b.length < n || got.c.length < n) && Date.now() < deadline) await sleep(20)
    b.removeChannelListener(lb)
    c.removeChannelListener(lc)
    assert.equal(got.b.length, n)
    assert.equal(got.c.length, n)
    assert.ok(
      got.b.every((v, i) => v === i),
      'c2 received out of order',
    )
    assert.ok(
      got.c.every((v, i) => v === i),
      'c3 received out of order',
    )
  })

  it('resolves a synchronized-ACK send only after the receiving handler finished', async () => {
    const [a, b] = cs.map((x) => x.channel) as [TestChannel['channel'], TestChannel['channel']]
    let finished = false
    const l = {
      messageReceived: async () => {
        await sleep(150)
        finished = true
      },
    }
    b.addChannelListener(l)
    const started = Date.now()
    await a.send(memberNamed(a, 'c2'), 'work', SYNCHRONIZED_ACK | USE_ACK)
    assert.equal(finished, true)
    assert.ok(Date.now() - started >= 140)
    finished = false
    await a.send(memberNamed(a, 'c2'), 'work', USE_ACK)
    assert.equal(finished, false, 'a plain ACK must not wait for the handler')
    await sleep(200)
    b.removeChannelListener(l)
  })

  it('rejects a synchronized-ACK send whose handler failed, naming the member', async () => {
    const [a, b] = cs.map((x) => x.channel) as [TestChannel['channel'], TestChannel['channel']]
    const l = {
      messageReceived: async () => {
        throw new Error('boom')
      },
    }
    b.addChannelListener(l)
    await assert.rejects(a.send(memberNamed(a, 'c2'), 'x', SYNCHRONIZED_ACK), (err: ChannelSendError) => {
      assert.equal(err.code, codes.SEND_FAILED)
      assert.equal(err.failures[0]?.error.code, codes.REMOTE_FAILURE)
      assert.match(err.message, /c2@127\.0\.0\.1/)
      return true
    })
    b.removeChannelListener(l)
  })

  it('carries a BYTE_MESSAGE (option 1) as the bytes given, and refuses one that is not bytes', async () => {
    const [a, b] = cs.map((x) => x.channel) as [TestChannel['channel'], TestChannel['channel']]
    let got: unknown
    const l = {
      messageReceived: (m: ReceivedMessage) => {
        got = m.payload
      },
    }
    b.addChannelListener(l)
    await a.send(memberNamed(a, 'c2'), Buffer.from('raw bytes'), SendOption.BYTE_MESSAGE | SYNCHRONIZED_ACK)
    b.removeChannelListener(l)
    assert.ok(Buffer.isBuffer(got))
    assert.equal(String(got), 'raw bytes')
    await assert.rejects(a.send(memberNamed(a, 'c2'), { not: 'bytes' }, SendOption.BYTE_MESSAGE), {
      code: codes.ENCODE_FAILED,
    })
  })

  it('rejects with an error naming exactly the members that failed', async () => {
    const a = cs[0]?.channel as TestChannel['channel']
    const dead = { ...createLocalMember({ host: '127.0.0.1', port: 1, name: 'ghost' }) }
    await assert.rejects(a.send([memberNamed(a, 'c2'), dead], 'hello', USE_ACK), (err: ChannelSendError) => {
      assert.equal(err.failures.length, 1)
      assert.match(err.failures[0]?.member ?? '', /^ghost@/)
      assert.equal(err.failures[0]?.error.code, codes.CONNECT_FAILED)
      return true
    })
  })

  it('does not let asynchronous sends to a dead or stuck member hold up sends to live ones', async () => {
    const [a, b] = cs.map((x) => x.channel) as [TestChannel['channel'], TestChannel['channel']]
    // A member whose process accepts connections but never reads: its socket fills up.
    const stuckServer = net.createServer(() => {}).listen(0, '127.0.0.1')
    await new Promise((r) => stuckServer.once('listening', r))
    const stuck = createLocalMember({
      host: '127.0.0.1',
      port: (stuckServer.address() as net.AddressInfo).port,
      name: 'stuck',
    })
    const dead = createLocalMember({ host: '127.0.0.1', port: 1, name: 'dead' })
    let received = 0
    const l = { messageReceived: () => void received++ }
    b.addChannelListener(l)
    const errors: unknown[] = []
    a.on('sendError', (e) => errors.push(e))
    const started = Date.now()
    const body = 'y'.repeat(64 * 1024)
    for (let i = 0; i < 300; i++) await a.send([memberNamed(a, 'c2'), stuck, dead], body, ASYNCHRONOUS)
    while (received < 300 && Date.now() - started < 5000) await sleep(10)
    const took = Date.now() - started
    b.removeChannelListener(l)
    stuckServer.close()
    assert.equal(received, 300)
    assert.ok(took < 3000, `live member got its messages after ${took} ms`)
    assert.ok(errors.length > 0, 'failures to the dead member are reported as sendError')
  })
})
