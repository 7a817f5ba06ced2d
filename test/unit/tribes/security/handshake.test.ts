import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { codes } from '../../../../node/tribes/errors.ts'
import { AUTH1_BYTES, ClientHandshake, ServerHandshake } from '../../../../node/tribes/security/handshake.ts'
import {
  type ClusterKeys,
  clusterKeys,
  KEY_ID_BYTES,
  keyRing,
} from '../../../../node/tribes/security/keys.ts'
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

/** Decodes sealed bytes, opening them with the other side's opener. */
function through(open: (h: Buffer, d: Buffer) => Buffer, bytes: Buffer) {
  const frames: Frame[] = []
  const d = new FrameDecoder(1 << 24, (f) => frames.push(f))
  d.unseal(open)
  d.push(bytes)
  return frames
}

describe('the cluster-secret handshake', () => {
  it('gives both sides each other’s proven uniqueId and matching keys in both directions', () => {
    const { c, s } = handshake()
    assert.ok(c.peerId.equals(idS))
    assert.ok(s.peerId.equals(idC))
    const body = randomBytes(3000)
    const header = Buffer.from([0x80])
    const sealed = Buffer.concat(c.seal.seal(encodeFrame(FrameKind.MESSAGE, 6, 9, header, body)))
    const [f] = through((h, d) => s.open.open(h, d), sealed)
    assert.deepEqual([f?.kind, f?.flags, f?.id], [FrameKind.MESSAGE, 6, 9])
    assert.deepEqual(f?.header, header)
    assert.deepEqual(f?.body, body)
    const back = Buffer.concat(s.seal.seal(encodeFrame(FrameKind.ACK, 0, 9, undefined, new Uint8Array(0))))
    const [ack] = through((h, d) => c.open.open(h, d), back)
    assert.equal(ack?.kind, FrameKind.ACK)
  })

  it('keeps the head in clear and the body secret', () => {
    const { c } = handshake()
    const body = Buffer.from('attribute value: alice'.repeat(4))
    const sealed = Buffer.concat(c.seal.seal(encodeFrame(FrameKind.MESSAGE, 8, 1, undefined, body)))
    assert.equal(sealed.subarray(0, 4).toString(), 'CTRB')
    assert.equal(sealed[5], FrameKind.SEALED)
    assert.equal(sealed.readUInt32BE(16), 20 + body.length + 16) // the frame inside, and the tag
    assert.equal(sealed.indexOf('alice'), -1)
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

  it('refuses a replayed, reordered, altered or foreign-key frame', () => {
    const { c, s } = handshake()
    const f1 = Buffer.concat(c.seal.seal(encodeFrame(FrameKind.MESSAGE, 8, 1, undefined, Buffer.from('one'))))
    const f2 = Buffer.concat(c.seal.seal(encodeFrame(FrameKind.MESSAGE, 8, 2, undefined, Buffer.from('two'))))
    const frames: Frame[] = []
    const d1 = new FrameDecoder(1 << 20, (f) => frames.push(f))
    d1.unseal((h, b) => s.open.open(h, b))
    const open = (order: Buffer[]) => {
      for (const b of order) d1.push(b)
      return frames
    }
    // In order: both open; the same bytes again (a replay) fail.
    assert.equal(open([f1, f2]).length, 2)
    assert.throws(() => open([f1]), { code: codes.FRAME_AUTH_FAILED })
    const { c: c2, s: s2 } = handshake()
    const g1 = Buffer.concat(
      c2.seal.seal(encodeFrame(FrameKind.MESSAGE, 8, 1, undefined, Buffer.from('one'))),
    )
    const g2 = Buffer.concat(
      c2.seal.seal(encodeFrame(FrameKind.MESSAGE, 8, 2, undefined, Buffer.from('two'))),
    )
    const d = new FrameDecoder(1 << 20, () => {})
    d.unseal((h, b) => s2.open.open(h, b))
    assert.throws(() => d.push(g2), { code: codes.FRAME_AUTH_FAILED }) // reordered
    void g1
    const { c: c3, s: s3 } = handshake()
    const h1 = Buffer.concat(
      c3.seal.seal(encodeFrame(FrameKind.MESSAGE, 8, 1, undefined, Buffer.from('one'))),
    )
    h1[h1.length - 20] = (h1[h1.length - 20] as number) ^ 1 // altered body
    const d3 = new FrameDecoder(1 << 20, () => {})
    d3.unseal((h, b) => s3.open.open(h, b))
    assert.throws(() => d3.push(h1), { code: codes.FRAME_AUTH_FAILED })
    const { s: s4 } = handshake()
    const d4 = new FrameDecoder(1 << 20, () => {})
    d4.unseal((h, b) => s4.open.open(h, b))
    const k1 = Buffer.concat(c.seal.seal(encodeFrame(FrameKind.MESSAGE, 8, 3, undefined, Buffer.from('x'))))
    assert.throws(() => d4.push(k1), { code: codes.FRAME_AUTH_FAILED }) // another connection's key
  })

  it('seals the frames of one write as one record, and opens frames that span records', () => {
    const { c, s } = handshake()
    const small = [1, 2, 3].flatMap((id) =>
      encodeFrame(FrameKind.MESSAGE, 8, id, undefined, Buffer.from(`m${id}`)),
    )
    const big = randomBytes(600 * 1024) // more than two records' worth
    const parts = [...small, ...encodeFrame(FrameKind.MESSAGE, 8, 4, undefined, big)]
    const sealed = c.seal.seal(parts)
    const records = sealed.filter((b) => b.length === 20 && b[5] === FrameKind.SEALED).length
    assert.equal(records, 3)
    const frames = through((h, d) => s.open.open(h, d), Buffer.concat(sealed))
    assert.deepEqual(
      frames.map((f) => f.id),
      [1, 2, 3, 4],
    )
    assert.deepEqual(frames[3]?.body, big)
  })

  it('seals a small write as one buffer holding one record, every frame inside', () => {
    const { c, s } = handshake()
    const parts = [1, 2, 3].flatMap((id) => encodeFrame(FrameKind.ACK, 0, id, undefined, new Uint8Array(0)))
    const copies = parts.map((p) => Buffer.from(p))
    const sealed = c.seal.seal(parts)
    assert.equal(sealed.length, 1)
    assert.equal(sealed[0]?.length, 20 + 3 * 20 + 16)
    assert.deepEqual(
      through((h, d) => s.open.open(h, d), sealed[0] as Buffer).map((f) => f.id),
      [1, 2, 3],
    )
    assert.deepEqual(parts, copies) // the input is left as it was
  })

  it('refuses a frame in clear after the handshake, and a sealed record before it', () => {
    const { s } = handshake()
    const clear = Buffer.concat(encodeFrame(FrameKind.MESSAGE, 8, 1, undefined, Buffer.from('x')))
    assert.throws(() => through((h, d) => s.open.open(h, d), clear), { code: codes.FRAME_AUTH_FAILED })
    const { c } = handshake()
    const sealed = Buffer.concat(
      c.seal.seal(encodeFrame(FrameKind.MESSAGE, 8, 1, undefined, Buffer.from('x'))),
    )
    const d = new FrameDecoder(1 << 20, () => {})
    assert.throws(() => d.push(sealed), { code: codes.FRAME_BAD_KIND })
  })

  it('refuses a secret shorter than 32 characters', () => {
    assert.throws(() => clusterKeys('short'), { code: codes.CLUSTER_SECRET })
  })
})

describe('the handshake during a secret rotation (key rings)', () => {
  it('lets a member on its primary old connect to a member holding [new, old], with matching keys', () => {
    const { c, s } = handshake(clusterKeys(OLD), keyRing([NEW, OLD]))
    const sealed = Buffer.concat(
      c.seal.seal(encodeFrame(FrameKind.MESSAGE, 8, 7, undefined, Buffer.from('hi'))),
    )
    assert.equal(through((h, d) => s.open.open(h, d), sealed)[0]?.body.toString(), 'hi')
    const back = Buffer.concat(s.seal.seal(encodeFrame(FrameKind.ACK, 0, 7, undefined, new Uint8Array(0))))
    assert.equal(through((h, d) => c.open.open(h, d), back)[0]?.kind, FrameKind.ACK)
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
