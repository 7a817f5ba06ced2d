/**
 * AEAD of an authenticated connection, one direction each (docs/protocol.md, "Sealed records").
 * After the handshake a direction's bytes are a sequence of sealed records: a 20-byte head in clear
 * (kind SEALED, body length = plain length + tag) — so a receiver checks magic, version and length
 * before it buffers or decrypts anything — authenticated as associated data, then the AES-256-GCM
 * ciphertext of up to MAX_RECORD_PLAIN bytes of plain frames and the 16-byte tag. Record boundaries
 * do not follow frames: whatever a write carries (the frames of one outbox flush, or one piece of a
 * large frame) is one record, so one cipher set-up (about 3 µs here, most of the cost of a small
 * frame) serves every frame of a write. The 96-bit nonce is the direction (4 bytes) and the record's
 * number on the connection (8 bytes), never sent: the receiver counts too, so a replayed, dropped or
 * reordered record fails authentication.
 *
 * Each call into node:crypto allocates (a Buffer per update, final and tag, a native object per
 * cipher, all left to the garbage collector), so a small write is sealed with as few calls as
 * possible: its frames are copied into the record's one buffer and encrypted by one update. A large
 * write is sealed part by part instead, without copying megabytes.
 */
import {
  type CipherGCM,
  createCipheriv,
  createDecipheriv,
  type DecipherGCM,
  type KeyObject,
} from 'node:crypto'
import { CatteryError, codes } from '../errors.ts'
import { FrameKind, HEAD_BYTES, MAGIC, MAX_RECORD_PLAIN, TAG_BYTES, VERSION } from '../transport/frame.ts'

const ALGORITHM = 'aes-256-gcm'
const OPTIONS = { authTagLength: TAG_BYTES }
/** Writes of up to this many plain bytes are sealed into one buffer (copied in, one update). */
const COPY_UP_TO = 16 * 1024

/** 0: from the connecting side, 1: from the accepting side. */
export type Direction = 0 | 1

class Nonces {
  readonly #iv = Buffer.alloc(12)
  #n = 0
  constructor(direction: Direction) {
    this.#iv.writeUInt32BE(direction, 0)
  }
  next(): Buffer {
    const n = this.#n++
    this.#iv.writeUInt32BE(Math.floor(n / 0x100000000), 4)
    this.#iv.writeUInt32BE(n >>> 0, 8)
    return this.#iv
  }
}

export class RecordSealer {
  readonly #key: KeyObject
  readonly #nonces: Nonces
  constructor(key: KeyObject, direction: Direction) {
    this.#key = key
    this.#nonces = new Nonces(direction)
  }

  /**
   * Seals encoded frames (encodeFrame's buffers, any number of whole or partial frames) as one record
   * per MAX_RECORD_PLAIN bytes; returns the buffers to write, the input is left as it was.
   */
  seal(parts: Buffer[], bytes = byteLength(parts)): Buffer[] {
    if (bytes === 0) return []
    if (bytes <= COPY_UP_TO) return [this.#sealCopied(parts, bytes)]
    const out: Buffer[] = []
    let part = 0
    let offset = 0
    for (let left = bytes; left > 0; ) {
      const size = Math.min(left, MAX_RECORD_PLAIN)
      left -= size
      const head = writeRecordHead(Buffer.allocUnsafe(HEAD_BYTES), size)
      const c = this.#cipher(head)
      out.push(head)
      for (let need = size; need > 0; ) {
        const p = parts[part] as Buffer
        const k = Math.min(need, p.length - offset)
        out.push(c.update(offset === 0 && k === p.length ? p : p.subarray(offset, offset + k)))
        need -= k
        offset += k
        if (offset === p.length) {
          part++
          offset = 0
        }
      }
      c.final()
      out.push(c.getAuthTag())
    }
    return out
  }

  /** One record in one buffer: head, the plain bytes copied in and encrypted over, tag. */
  #sealCopied(parts: Buffer[], size: number): Buffer {
    const record = writeRecordHead(Buffer.allocUnsafe(HEAD_BYTES + size + TAG_BYTES), size)
    const c = this.#cipher(record.subarray(0, HEAD_BYTES))
    let plain = parts[0] as Buffer
    if (parts.length > 1) {
      let at = HEAD_BYTES
      for (const p of parts) {
        record.set(p, at)
        at += p.length
      }
      plain = record.subarray(HEAD_BYTES, at)
    }
    c.update(plain).copy(record, HEAD_BYTES)
    c.final()
    c.getAuthTag().copy(record, HEAD_BYTES + size)
    return record
  }

  #cipher(head: Buffer): CipherGCM {
    const c = createCipheriv(ALGORITHM, this.#key, this.#nonces.next(), OPTIONS) as CipherGCM
    c.setAAD(head)
    return c
  }
}

export class RecordOpener {
  readonly #key: KeyObject
  readonly #nonces: Nonces
  constructor(key: KeyObject, direction: Direction) {
    this.#key = key
    this.#nonces = new Nonces(direction)
  }

  /** `data` is the record after its head (ciphertext, then the tag); returns the plain bytes. */
  open(head: Buffer, data: Buffer): Buffer {
    const n = data.length - TAG_BYTES
    if (n < 0) throw new CatteryError(codes.FRAME_AUTH_FAILED, 'sealed record shorter than its tag')
    const d = createDecipheriv(ALGORITHM, this.#key, this.#nonces.next(), OPTIONS) as DecipherGCM
    d.setAAD(head)
    d.setAuthTag(data.subarray(n))
    const plain = d.update(data.subarray(0, n))
    try {
      d.final()
    } catch {
      throw new CatteryError(
        codes.FRAME_AUTH_FAILED,
        'record failed authentication (wrong key, altered, replayed or out of order)',
      )
    }
    return plain
  }
}

/** Writes the head of a record of `plain` bytes into `b`'s first HEAD_BYTES; returns `b`. */
function writeRecordHead(b: Buffer, plain: number): Buffer {
  b.writeUInt32BE(MAGIC, 0)
  b[4] = VERSION
  b[5] = FrameKind.SEALED
  b.fill(0, 6, 16) // flags, id and header length: none
  b.writeUInt32BE(plain + TAG_BYTES, 16)
  return b
}

function byteLength(parts: Buffer[]): number {
  let n = 0
  for (const p of parts) n += p.length
  return n
}
