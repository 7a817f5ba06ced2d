import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import net from 'node:net'
import { Duplex } from 'node:stream'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import tls from 'node:tls'
import { codes } from '../../../../node/tribes/errors.ts'
import { AUTH1_BYTES, ClientHandshake, ServerHandshake } from '../../../../node/tribes/security/handshake.ts'
import {
  type ClusterKeys,
  clusterKeys,
  KEY_ID_BYTES,
  keyRing,
} from '../../../../node/tribes/security/keys.ts'
import { clientOptions, SecureAcceptor } from '../../../../node/tribes/security/tls-upgrade.ts'
import { encodeFrame, type Frame, FrameDecoder, FrameKind } from '../../../../node/tribes/transport/frame.ts'

const OLD = 'a-cluster-secret-of-at-least-32-characters'
const NEW = 'another-secret-of-at-least-32-characters!!'
const keys = clusterKeys(OLD)
const other = clusterKeys(NEW)
const idC = randomBytes(16)
const idS = randomBytes(16)

function handshake(clientKeys: ClusterKeys = keys, serverRing = keyRing(OLD)) {
  const client = new ClientHandshake(clientKeys, idC)
  const server = new ServerHandshake(serverRing, idS)
  const challenge = server.challenge(client.start())
  const { reply, session: c } = client.answer(challenge)
  const s = server.finish(reply)
  return { c, s }
}

/**
 * A TCP connection on loopback continued in TLS with `clientPsk` and `serverPsk` (tls-upgrade.ts),
 * the client's TLS over a stream of ours so its bytes on the wire are recorded. The server hands its
 * SecureAcceptor the bytes after a first frame in clear (as the receiver does after AUTH 3), which
 * the client writes with its ClientHello right behind it.
 */
async function tlsPair(clientPsk: Buffer, serverPsk: Buffer) {
  const received: Frame[] = []
  const wire: Buffer[] = []
  const failures: string[] = []
  const acceptor = new SecureAcceptor<string>(
    {
      secure: (_owner, secure) => {
        const inner = new FrameDecoder(1 << 24, (f) => {
          received.push(f)
          secure.write(Buffer.concat(encodeFrame(FrameKind.ACK, 0, f.id, undefined, new Uint8Array(0))))
        })
        secure.on('data', (c: Buffer) => inner.push(c))
      },
      failed: (owner, err, socket) => {
        failures.push(`${owner}: ${err.message}`)
        socket.destroy()
      },
    },
    5000,
  )
  const server = net.createServer((raw) => {
    const d: FrameDecoder = new FrameDecoder(1 << 20, () =>
      acceptor.accept(raw, serverPsk, d.detach(), 'the connection'),
    )
    raw.on('data', (c: Buffer) => d.push(c))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
  await once(socket, 'connect')
  const stream = new Duplex({
    write(chunk: Buffer, _e, done) {
      wire.push(chunk)
      socket.write(chunk, () => done())
    },
    read() {},
  })
  socket.on('data', (c: Buffer) => {
    try {
      stream.push(c)
    } catch {
      socket.destroy() // TLS throws a failed session's error from here; the client reports it too
    }
  })
  stream.write(Buffer.concat(encodeFrame(FrameKind.AUTH, 0, 3, undefined, randomBytes(32))))
  const client = tls.connect({ socket: stream as net.Socket, ...clientOptions(clientPsk) })
  client.on('error', () => {}) // the race below reports it
  const acks: Frame[] = []
  const back = new FrameDecoder(1 << 20, (f) => acks.push(f))
  client.on('data', (c: Buffer) => back.push(c))
  // once() rejects when 'error' comes first: the session failed.
  const up = await once(client, 'secureConnect').then(
    () => true,
    () => false,
  )
  return {
    up,
    client,
    received,
    acks,
    wire,
    failures,
    close() {
      client.destroy()
      socket.destroy()
      server.close()
    },
  }
}

describe('the cluster-secret handshake', () => {
  it('gives both sides each other’s proven uniqueId and the same key, fresh for each connection', () => {
    const { c, s } = handshake()
    assert.ok(c.peerId.equals(idS))
    assert.ok(s.peerId.equals(idC))
    assert.equal(c.psk.length, 32)
    assert.ok(c.psk.equals(s.psk))
    assert.ok(!handshake().c.psk.equals(c.psk))
  })

  it('carries frames in TLS keyed by it, the ClientHello read with AUTH 3, bodies never in clear', async () => {
    const { c, s } = handshake()
    const t = await tlsPair(c.psk, s.psk)
    try {
      assert.equal(t.up, true)
      const body = Buffer.from('attribute value: alice'.repeat(4))
      for (const id of [1, 2, 3])
        t.client.write(Buffer.concat(encodeFrame(FrameKind.MESSAGE, 8, id, undefined, body)))
      for (let i = 0; i < 100 && t.acks.length < 3; i++) await sleep(10)
      assert.deepEqual(
        t.received.map((f) => [f.id, f.body.toString()]),
        [1, 2, 3].map((id) => [id, body.toString()]),
      )
      assert.deepEqual(
        t.acks.map((f) => f.kind),
        [FrameKind.ACK, FrameKind.ACK, FrameKind.ACK],
      )
      assert.equal(Buffer.concat(t.wire).indexOf('alice'), -1)
    } finally {
      t.close()
    }
  })

  it('fails the TLS session when the two sides hold different keys (another connection’s)', async () => {
    const t = await tlsPair(handshake().c.psk, handshake().s.psk)
    try {
      assert.equal(t.up, false)
      assert.equal(t.received.length, 0)
      for (let i = 0; i < 100 && t.failures.length === 0; i++) await sleep(10)
      assert.equal(t.failures.length, 1, 'the accepting side reports the failed session')
    } finally {
      t.close()
    }
  })

  it('refuses a member with another secret on both sides', () => {
    // The accepting side refuses at AUTH 1: the key id names a secret it does not hold.
    const client = new ClientHandshake(other, idC)
    const server = new ServerHandshake([keys], idS)
    assert.throws(() => server.challenge(client.start()), { code: codes.AUTH_FAILED })
    // A hostile client that copies this secret's (public) key id gets a challenge, but cannot produce
    // a proof of its own nor check the server's.
    const server2 = new ServerHandshake([keys], idS)
    const challenge = server2.challenge(Buffer.concat([randomBytes(32), idC, keys.id]))
    assert.throws(() => server2.finish(randomBytes(32)), { code: codes.AUTH_FAILED })
    assert.throws(() => new ClientHandshake(other, idC).answer(challenge), { code: codes.AUTH_FAILED })
    // The connecting side checks proofS with the secret it used: a server claiming its key id while
    // holding another secret is refused.
    const liar = new ServerHandshake([{ ...other, id: keys.id }], idS)
    const honest = new ClientHandshake(keys, idC)
    assert.throws(() => honest.answer(liar.challenge(honest.start())), {
      code: codes.AUTH_FAILED,
      message: /the member answering does not hold this cluster secret/,
    })
  })

  it('refuses a proof replayed from another connection (fresh nonces each time)', () => {
    const client = new ClientHandshake(keys, idC)
    const start = client.start()
    const first = new ServerHandshake([keys], idS)
    const { reply } = client.answer(first.challenge(start))
    const second = new ServerHandshake([keys], idS)
    second.challenge(start) // the same AUTH 1 recorded and sent again
    assert.throws(() => second.finish(reply), { code: codes.AUTH_FAILED })
  })

  it('refuses malformed AUTH bodies of the wrong size', () => {
    assert.throws(() => new ServerHandshake([keys], idS).challenge(randomBytes(10)), {
      code: codes.AUTH_FAILED,
    })
    assert.throws(() => new ClientHandshake(keys, idC).answer(randomBytes(10)), { code: codes.AUTH_FAILED })
    assert.throws(() => new ServerHandshake([keys], idS).finish(randomBytes(32)), { code: codes.AUTH_FAILED })
  })

  it('refuses a secret shorter than 32 characters', () => {
    assert.throws(() => clusterKeys('short'), { code: codes.CLUSTER_SECRET })
  })
})

describe('the handshake during a secret rotation (key rings)', () => {
  it('lets a member on its primary old connect to a member holding [new, old], with the same key', () => {
    const { c, s } = handshake(clusterKeys(OLD), keyRing([NEW, OLD]))
    assert.ok(c.psk.equals(s.psk))
  })

  it('lets a member on its primary new connect to a member holding [old, new]', () => {
    const { c, s } = handshake(clusterKeys(NEW), keyRing([OLD, NEW]))
    assert.ok(c.peerId.equals(idS))
    assert.ok(s.peerId.equals(idC))
  })

  it('refuses a member on new only at a member on old only, saying it does not hold that secret', () => {
    const client = new ClientHandshake(keyRing(NEW)[0], idC)
    const server = new ServerHandshake(keyRing(OLD), idS)
    assert.throws(() => server.challenge(client.start()), {
      code: codes.AUTH_FAILED,
      message: /uses a cluster secret this member does not hold \(key id [0-9a-f]{16}\)/,
    })
  })

  it('names a secret in AUTH 1 by a key id that is derived from it, not the secret itself', () => {
    const start = new ClientHandshake(clusterKeys(OLD), idC).start()
    assert.equal(start.length, AUTH1_BYTES)
    assert.equal(AUTH1_BYTES, 32 + 16 + KEY_ID_BYTES)
    assert.deepEqual(start.subarray(48), clusterKeys(OLD).id)
    assert.equal(start.indexOf(Buffer.from(OLD).subarray(0, 8)), -1)
    assert.notDeepEqual(clusterKeys(OLD).id, clusterKeys(NEW).id)
  })

  it('holds 1 to 4 secrets, naming a short one by its place', () => {
    const five = [1, 2, 3, 4, 5].map((i) => `${i}${OLD}`)
    assert.equal(keyRing(five.slice(0, 4)).length, 4)
    assert.throws(() => keyRing(five), { code: codes.CLUSTER_SECRET, message: /5 cluster secrets given/ })
    assert.throws(() => keyRing([]), { code: codes.CLUSTER_SECRET })
    assert.throws(() => keyRing([OLD, 'short']), {
      code: codes.CLUSTER_SECRET,
      message: /^cluster secret 2 has 5/,
    })
  })
})

describe('frame decoder bounds', () => {
  it('grows a large frame’s buffer as its bytes arrive instead of allocating the announced length', () => {
    const body = randomBytes(4 << 20)
    const bytes = Buffer.concat(encodeFrame(FrameKind.MESSAGE, 0, 1, undefined, body))
    const frames: Frame[] = []
    const d = new FrameDecoder(16 << 20, (f) => frames.push(f))
    const before = process.memoryUsage().arrayBuffers
    d.push(bytes.subarray(0, 300 * 1024))
    const held = process.memoryUsage().arrayBuffers - before
    assert.ok(held < 2 << 20, `holds ${held} bytes after 300 KiB of a 4 MiB frame`)
    for (let i = 300 * 1024; i < bytes.length; i += 64 * 1024) d.push(bytes.subarray(i, i + 64 * 1024))
    assert.equal(frames.length, 1)
    assert.ok(frames[0]?.body.equals(body))
  })
})
