/**
 * The wire frame (see docs/protocol.md): a 20-byte fixed head, then an optional msgpack header map,
 * then the body.
 *
 *   0  magic 'CTRB'   4  version u8   5  kind u8   6  flags u16 (send options)
 *   8  id u32 (per connection)   12  header length u32   16  body length u32
 */
import { CatteryError, codes } from '../errors.ts'

const MAGIC = 0x43545242 // 'CTRB'
export const VERSION = 1
export const HEAD_BYTES = 20
const MAX_HEADER_BYTES = 64 * 1024

export const FrameKind = {
  HELLO: 1,
  MESSAGE: 2,
  ACK: 3,
  FAIL_ACK: 4,
  PING: 5,
  PONG: 6,
  BYE: 7,
  /**
   * The handshake of a channel with a cluster secret (security/handshake.ts), in clear; TLS follows
   * it (security/tls-upgrade.ts).
   */
  AUTH: 8,
} as const
export type FrameKindValue = (typeof FrameKind)[keyof typeof FrameKind]
const MAX_KIND = 8

export interface Frame {
  kind: FrameKindValue
  flags: number
  id: number
  header: Buffer
  body: Buffer
}

/** Builds a frame as buffers ready for writev; bodies above `copyLimit` are not copied. */
export function encodeFrame(
  kind: FrameKindValue,
  flags: number,
  id: number,
  header: Uint8Array | undefined,
  body: Uint8Array,
): Buffer[] {
  const hl = header ? header.length : 0
  const bl = body.length
  const small = bl <= 256
  const head = Buffer.allocUnsafe(small ? HEAD_BYTES + hl + bl : HEAD_BYTES + hl)
  head.writeUInt32BE(MAGIC, 0)
  head[4] = VERSION
  head[5] = kind
  head.writeUInt16BE(flags & 0xffff, 6)
  head.writeUInt32BE(id >>> 0, 8)
  head.writeUInt32BE(hl, 12)
  head.writeUInt32BE(bl, 16)
  if (header && hl) head.set(header, HEAD_BYTES)
  if (small) {
    if (bl) head.set(body, HEAD_BYTES + hl)
    return [head]
  }
  return [head, Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength)]
}

export const frameLength = (header: Uint8Array | undefined, body: Uint8Array): number =>
  HEAD_BYTES + (header ? header.length : 0) + body.length

const EMPTY = Buffer.alloc(0)
/** Frames from this size on are assembled as they arrive (see #fillLarge). */
const LARGE_FRAME = 256 * 1024

interface Head {
  kind: FrameKindValue
  flags: number
  id: number
  hl: number
  bl: number
}

/**
 * Incremental decoder. Memory is bounded by `maxFrameBytes` (which the owner may lower until a
 * connection is authenticated): a frame announcing more is refused as soon as its head arrives. A
 * large frame's buffer grows as its bytes arrive (doubling, up to the announced length), so a head
 * that announces megabytes costs nothing until they are sent. After an error the decoder refuses
 * everything (the caller closes). `detach` hands the bytes after the current frame to another reader
 * (TLS, after the AUTH handshake).
 */
export class FrameDecoder {
  #maxFrameBytes: number
  readonly #onFrame: (frame: Frame) => void
  #detached = false
  #chunks: Buffer[] = []
  #buffered = 0
  #head: Head | undefined
  #large: { buf: Buffer; filled: number; size: number } | undefined
  #failed = false
  #partialSince = 0

  constructor(maxFrameBytes: number, onFrame: (frame: Frame) => void) {
    this.#maxFrameBytes = maxFrameBytes
    this.#onFrame = onFrame
  }

  get maxFrameBytes(): number {
    return this.#maxFrameBytes
  }

  set maxFrameBytes(n: number) {
    this.#maxFrameBytes = n
  }

  /** When the bytes of the frame now being read started to arrive; 0 between frames. */
  get partialSince(): number {
    return this.#partialSince
  }

  get buffered(): number {
    return this.#buffered + (this.#large?.filled ?? 0)
  }

  /**
   * Stops decoding (from inside onFrame: the frames after the current one are not emitted) and
   * returns the bytes received after the current frame, for the reader that takes over.
   */
  detach(): Buffer[] {
    this.#detached = true
    const rest = this.#chunks
    this.#chunks = []
    this.#buffered = 0
    this.#head = undefined
    return rest
  }

  /** Feeds bytes; throws a CatteryError for a malformed frame. */
  push(chunk: Buffer): void {
    if (this.#failed || this.#detached) return
    try {
      const rest = this.#fillLarge(chunk)
      if (rest === undefined || this.#detached) return
      this.#chunks.push(rest)
      this.#buffered += rest.length
      this.#drain()
    } catch (err) {
      this.#failed = true
      this.#chunks = []
      this.#large = undefined
      throw err
    }
  }

  /**
   * A large frame is copied into its own buffer as its chunks arrive (one copy, spread over the
   * transfer, instead of holding the chunks and copying them all at the end). Returns what is left
   * of `chunk` after the frame, or undefined when the frame is still incomplete.
   */
  #fillLarge(chunk: Buffer): Buffer | undefined {
    const large = this.#large
    if (!large) return chunk
    const k = Math.min(chunk.length, large.size - large.filled)
    if (large.filled + k > large.buf.length) {
      const grown = Buffer.allocUnsafe(Math.min(large.size, Math.max(large.buf.length * 2, large.filled + k)))
      large.buf.copy(grown, 0, 0, large.filled)
      large.buf = grown
    }
    chunk.copy(large.buf, large.filled, 0, k)
    large.filled += k
    if (large.filled < large.size) return undefined
    const head = this.#head as Head
    this.#large = undefined
    this.#head = undefined
    this.#partialSince = 0
    this.#emit(head, large.buf)
    return chunk.subarray(k)
  }

  #emit(head: Head, data: Buffer): void {
    this.#onFrame({
      kind: head.kind,
      flags: head.flags,
      id: head.id,
      header: data.subarray(0, head.hl),
      body: data.subarray(head.hl),
    })
  }

  #drain(): void {
    let completed = false
    for (;;) {
      if (this.#head === undefined) {
        if (this.#buffered < HEAD_BYTES) break
        this.#head = this.#parseHead(this.#take(HEAD_BYTES))
      }
      const { hl, bl } = this.#head
      if (this.#buffered < hl + bl) {
        if (hl + bl >= LARGE_FRAME) {
          const filled = this.#buffered
          const size = hl + bl
          const buf = Buffer.allocUnsafe(Math.min(size, Math.max(LARGE_FRAME, 2 * filled)))
          let off = 0
          for (const c of this.#chunks) {
            c.copy(buf, off)
            off += c.length
          }
          this.#chunks = []
          this.#buffered = 0
          this.#large = { buf, filled, size }
          if (this.#partialSince === 0) this.#partialSince = Date.now()
          return
        }
        break
      }
      const data = this.#take(hl + bl)
      const head = this.#head
      this.#head = undefined
      completed = true
      this.#emit(head, data)
      if (this.#detached) return
    }
    if (this.#buffered === 0 && this.#head === undefined) this.#partialSince = 0
    else if (completed || this.#partialSince === 0) this.#partialSince = Date.now()
  }

  #parseHead(b: Buffer): Head {
    return parseHead(b, this.#maxFrameBytes)
  }

  #take(n: number): Buffer {
    if (n === 0) return EMPTY
    const first = this.#chunks[0] as Buffer
    if (first.length >= n) {
      const out = first.subarray(0, n)
      if (first.length === n) this.#chunks.shift()
      else this.#chunks[0] = first.subarray(n)
      this.#buffered -= n
      return out
    }
    const out = Buffer.allocUnsafe(n)
    let off = 0
    while (off < n) {
      const c = this.#chunks[0] as Buffer
      const k = Math.min(c.length, n - off)
      c.copy(out, off, 0, k)
      off += k
      if (k === c.length) this.#chunks.shift()
      else this.#chunks[0] = c.subarray(k)
    }
    this.#buffered -= n
    return out
  }
}

function parseHead(b: Buffer, maxFrameBytes: number): Head {
  const magic = b.readUInt32BE(0)
  if (magic !== MAGIC) {
    throw new CatteryError(
      codes.FRAME_BAD_MAGIC,
      `not a Cattery frame: magic 0x${magic.toString(16)} (expected 'CTRB')`,
    )
  }
  const version = b[4] as number
  if (version !== VERSION) {
    throw new CatteryError(
      codes.FRAME_BAD_VERSION,
      `protocol version ${version} is not supported (this node speaks version ${VERSION})`,
    )
  }
  const kind = b[5] as number
  if (kind < 1 || kind > MAX_KIND) throw new CatteryError(codes.FRAME_BAD_KIND, `unknown frame kind ${kind}`)
  const hl = b.readUInt32BE(12)
  const bl = b.readUInt32BE(16)
  if (hl > MAX_HEADER_BYTES) {
    throw new CatteryError(codes.FRAME_TOO_LARGE, `frame header of ${hl} bytes exceeds ${MAX_HEADER_BYTES}`)
  }
  if (HEAD_BYTES + hl + bl > maxFrameBytes) {
    throw new CatteryError(
      codes.FRAME_TOO_LARGE,
      `frame of ${HEAD_BYTES + hl + bl} bytes exceeds maxFrameBytes ${maxFrameBytes}`,
    )
  }
  return { kind: kind as FrameKindValue, flags: b.readUInt16BE(6), id: b.readUInt32BE(8), hl, bl }
}
