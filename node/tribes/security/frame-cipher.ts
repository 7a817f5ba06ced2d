/**
 * AEAD of the frames of one authenticated connection, one direction each (docs/protocol.md, "Sealed
 * frames"). A sealed frame keeps its 20-byte head in clear — so a receiver checks magic, version and
 * lengths before it buffers or decrypts anything — and authenticates it as associated data; the
 * header and body sections are encrypted with AES-256-GCM and the 16-byte tag follows the body (the
 * head's body length counts it). The 96-bit nonce is the direction (4 bytes) and the frame's number
 * on the connection (8 bytes), never sent: the receiver counts too, so a replayed, dropped or
 * reordered frame fails authentication. The key is imported once; each frame costs one cipher.
 */
import {
  type CipherGCM,
  createCipheriv,
  createDecipheriv,
  type DecipherGCM,
  type KeyObject,
} from 'node:crypto'
import { CatteryError, codes } from '../errors.ts'

export const TAG_BYTES = 16
const HEAD = 20
const ALGORITHM = 'aes-256-gcm'

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

export class FrameSealer {
  readonly #key: KeyObject
  readonly #nonces: Nonces
  constructor(key: KeyObject, direction: Direction) {
    this.#key = key
    this.#nonces = new Nonces(direction)
  }

  /** Seals an encoded frame (encodeFrame's buffers); returns new buffers, the input is left as it was. */
  seal(parts: Buffer[]): Buffer[] {
    const first = parts[0] as Buffer
    const head = Buffer.allocUnsafe(HEAD)
    first.copy(head, 0, 0, HEAD)
    head.writeUInt32BE(head.readUInt32BE(16) + TAG_BYTES, 16)
    const c = createCipheriv(ALGORITHM, this.#key, this.#nonces.next(), {
      authTagLength: TAG_BYTES,
    }) as CipherGCM
    c.setAAD(head)
    const out = [head]
    if (first.length > HEAD) out.push(c.update(first.subarray(HEAD)))
    for (let i = 1; i < parts.length; i++) out.push(c.update(parts[i] as Buffer))
    c.final()
    out.push(c.getAuthTag())
    return out
  }
}

export class FrameOpener {
  readonly #key: KeyObject
  readonly #nonces: Nonces
  constructor(key: KeyObject, direction: Direction) {
    this.#key = key
    this.#nonces = new Nonces(direction)
  }

  /** `data` is the frame after its head (sections, then the tag); returns the plain sections. */
  open(head: Buffer, data: Buffer): Buffer {
    const n = data.length - TAG_BYTES
    if (n < head.readUInt32BE(12)) {
      throw new CatteryError(codes.FRAME_AUTH_FAILED, 'sealed frame shorter than its header and tag')
    }
    const d = createDecipheriv(ALGORITHM, this.#key, this.#nonces.next(), {
      authTagLength: TAG_BYTES,
    }) as DecipherGCM
    d.setAAD(head)
    d.setAuthTag(data.subarray(n))
    const plain = d.update(data.subarray(0, n))
    try {
      d.final()
    } catch {
      throw new CatteryError(
        codes.FRAME_AUTH_FAILED,
        'frame failed authentication (wrong key, altered, replayed or out of order)',
      )
    }
    return plain
  }
}
