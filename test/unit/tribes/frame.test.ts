import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { codes } from '../../../node/tribes/errors.ts'
import {
  encodeFrame,
  type Frame,
  FrameDecoder,
  FrameKind,
  HEAD_BYTES,
} from '../../../node/tribes/transport/frame.ts'

const decodeAll = (bytes: Buffer, chunk = bytes.length, max = 1 << 24): Frame[] => {
  const frames: Frame[] = []
  const d = new FrameDecoder(max, (f) => frames.push(f))
  for (let i = 0; i < bytes.length; i += chunk) d.push(bytes.subarray(i, i + chunk))
  return frames
}

describe('frame codec', () => {
  it('round-trips header and body split at every chunk size', () => {
    const header = Buffer.from([0x81, 0xa1, 0x7a, 0x01])
    const body = randomBytes(3000)
    const bytes = Buffer.concat([
      ...encodeFrame(FrameKind.MESSAGE, 10, 7, header, body),
      ...encodeFrame(FrameKind.ACK, 0, 8, undefined, new Uint8Array(0)),
    ])
    for (const chunk of [1, 7, 20, 21, 1000, bytes.length]) {
      const frames = decodeAll(bytes, chunk)
      assert.equal(frames.length, 2)
      const [a, b] = frames as [Frame, Frame]
      assert.deepEqual([a.kind, a.flags, a.id], [FrameKind.MESSAGE, 10, 7])
      assert.deepEqual(a.header, header)
      assert.deepEqual(a.body, body)
      assert.deepEqual([b.kind, b.id, b.body.length], [FrameKind.ACK, 8, 0])
    }
  })

  it('keeps large bodies out of the head buffer (no copy on send)', () => {
    const body = Buffer.alloc(1 << 20)
    const parts = encodeFrame(FrameKind.MESSAGE, 0, 1, undefined, body)
    assert.equal(parts.length, 2)
    assert.equal(parts[1], body)
  })

  it('refuses random bytes with FRAME_BAD_MAGIC', () => {
    assert.throws(() => decodeAll(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), {
      code: codes.FRAME_BAD_MAGIC,
    })
  })

  it('refuses another protocol version with FRAME_BAD_VERSION', () => {
    const [head] = encodeFrame(FrameKind.MESSAGE, 0, 1, undefined, Buffer.from('x')) as [Buffer]
    head[4] = 2
    assert.throws(() => decodeAll(head), { code: codes.FRAME_BAD_VERSION })
  })

  it('refuses a frame announcing 4 GiB as soon as its head arrives', () => {
    const [head] = encodeFrame(FrameKind.MESSAGE, 0, 1, undefined, new Uint8Array(0)) as [Buffer]
    head.writeUInt32BE(0xffffffff, 16)
    assert.throws(() => decodeAll(head.subarray(0, HEAD_BYTES)), { code: codes.FRAME_TOO_LARGE })
  })

  it('refuses an unknown frame kind', () => {
    const [head] = encodeFrame(FrameKind.MESSAGE, 0, 1, undefined, new Uint8Array(0)) as [Buffer]
    head[5] = 99
    assert.throws(() => decodeAll(head), { code: codes.FRAME_BAD_KIND })
  })

  it('reports a partial frame as in progress, and clears it once complete', () => {
    const bytes = Buffer.concat(encodeFrame(FrameKind.MESSAGE, 0, 1, undefined, Buffer.alloc(100)))
    const d = new FrameDecoder(1 << 20, () => {})
    d.push(bytes.subarray(0, 50))
    assert.ok(d.partialSince > 0)
    d.push(bytes.subarray(50))
    assert.equal(d.partialSince, 0)
  })
})

describe('frame codec, large frames', () => {
  it('assembles a 3 MB frame arriving in 64 KB chunks, followed by a small one in the same chunk', () => {
    const body = randomBytes(3 << 20)
    const bytes = Buffer.concat([
      ...encodeFrame(FrameKind.MESSAGE, 2, 9, Buffer.from([0x80]), body),
      ...encodeFrame(FrameKind.ACK, 0, 10, undefined, new Uint8Array(0)),
    ])
    for (const chunk of [65_536, 1000, 7]) {
      const frames = decodeAll(bytes, chunk)
      assert.equal(frames.length, 2)
      assert.ok(frames[0]?.body.equals(body))
      assert.deepEqual([frames[1]?.kind, frames[1]?.id], [FrameKind.ACK, 10])
    }
  })
})
