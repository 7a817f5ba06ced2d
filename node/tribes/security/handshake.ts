/**
 * The authenticated handshake that opens every TCP connection of a channel with a cluster secret
 * (docs/protocol.md, "Handshake"). Three AUTH frames, in clear:
 *
 *   1. connecting side -> accepting side: nonceC (32) | idC (16) | keyId (8)
 *   2. accepting side -> connecting side: nonceS (32) | idS (16) | proofS (32)
 *   3. connecting side -> accepting side: proofC (32)
 *
 * keyId names the connecting side's primary secret (keys.ts); the accepting side uses the secret of
 * its key ring with that id for the whole connection, or refuses (AUTH_FAILED) when it holds none —
 * so members whose rings share the other's primary meet during a rotation.
 * transcript = 'cattery-auth' | protocol version | nonceC | nonceS | idC | idS | keyId;
 * proofS = HMAC-SHA256(authKey, 'S' | transcript), proofC = HMAC-SHA256(authKey, 'C' | transcript).
 * Each side proves it holds the secret over a nonce the other just chose, so neither proof can be
 * replayed. The connection's key: HKDF-SHA256(secret, salt nonceC | nonceS, info 'cattery v1 tls' |
 * idC | idS), the pre-shared key of the TLS 1.2 session both sides start right after AUTH 3
 * (tls-upgrade.ts), which encrypts and authenticates everything from there on. The ids are the
 * members' uniqueIds: a HELLO, PING or BYE that names another member than the handshake did is
 * refused by the caller. Bounds: every body has a fixed size; anything else fails.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { CatteryError, codes } from '../errors.ts'
import { VERSION } from '../transport/frame.ts'
import { type ClusterKeys, derive, KEY_ID_BYTES, type KeyRing, keysWithId } from './keys.ts'

const NONCE = 32
const ID = 16
const MAC = 32
export const AUTH1_BYTES = NONCE + ID + KEY_ID_BYTES
const AUTH2_BYTES = NONCE + ID + MAC
const AUTH3_BYTES = MAC
const LABEL = Buffer.from('cattery-auth')

/** What a completed handshake gives its side of the connection. */
export interface Session {
  /** This connection's key (fresh nonces, so no two connections share one): the TLS session's PSK. */
  psk: Buffer
  /** The other member's uniqueId, as it proved it. */
  peerId: Buffer
}

function transcript(nonceC: Buffer, nonceS: Buffer, idC: Buffer, idS: Buffer, keyId: Buffer): Buffer {
  return Buffer.concat([LABEL, Buffer.from([VERSION]), nonceC, nonceS, idC, idS, keyId])
}

const proof = (keys: ClusterKeys, role: 'C' | 'S', t: Buffer): Buffer =>
  createHmac('sha256', keys.auth).update(role).update(t).digest()

const connectionKey = (keys: ClusterKeys, nonceC: Buffer, nonceS: Buffer, idC: Buffer, idS: Buffer) =>
  derive(
    keys.secret,
    Buffer.concat([nonceC, nonceS]),
    Buffer.concat([Buffer.from('cattery v1 tls'), idC, idS]),
  )

function failed(message: string): CatteryError {
  return new CatteryError(codes.AUTH_FAILED, message)
}

/** The connecting side: proves its primary secret. */
export class ClientHandshake {
  readonly #keys: ClusterKeys
  readonly #id: Buffer
  readonly #nonce = randomBytes(NONCE)
  constructor(keys: ClusterKeys, localId: Uint8Array) {
    this.#keys = keys
    this.#id = Buffer.from(localId)
  }

  /** Body of AUTH frame 1. */
  start(): Buffer {
    return Buffer.concat([this.#nonce, this.#id, this.#keys.id])
  }

  /** Checks AUTH frame 2; returns the body of AUTH frame 3 and the session. Throws AUTH_FAILED. */
  answer(body: Buffer): { reply: Buffer; session: Session } {
    if (body.length !== AUTH2_BYTES)
      throw failed(`AUTH answer of ${body.length} bytes (${AUTH2_BYTES} expected)`)
    const nonceS = body.subarray(0, NONCE)
    const idS = Buffer.from(body.subarray(NONCE, NONCE + ID))
    const t = transcript(this.#nonce, nonceS, this.#id, idS, this.#keys.id)
    if (!timingSafeEqual(proof(this.#keys, 'S', t), body.subarray(NONCE + ID))) {
      throw failed('the member answering does not hold this cluster secret')
    }
    return {
      reply: proof(this.#keys, 'C', t),
      session: { psk: connectionKey(this.#keys, this.#nonce, nonceS, this.#id, idS), peerId: idS },
    }
  }
}

/** The accepting side: accepts any secret of its key ring. */
export class ServerHandshake {
  readonly #ring: KeyRing
  readonly #id: Buffer
  #keys: ClusterKeys | undefined
  #t: Buffer | undefined
  #psk: Buffer | undefined
  #peer: Buffer | undefined
  constructor(ring: KeyRing, localId: Uint8Array) {
    this.#ring = ring
    this.#id = Buffer.from(localId)
  }

  get started(): boolean {
    return this.#t !== undefined
  }

  /** Takes AUTH frame 1; returns the body of AUTH frame 2. */
  challenge(body: Buffer): Buffer {
    if (this.#t) throw failed('a second AUTH start on one connection')
    if (body.length !== AUTH1_BYTES)
      throw failed(`AUTH start of ${body.length} bytes (${AUTH1_BYTES} expected)`)
    const nonceC = Buffer.from(body.subarray(0, NONCE))
    const idC = Buffer.from(body.subarray(NONCE, NONCE + ID))
    const keyId = Buffer.from(body.subarray(NONCE + ID))
    const keys = keysWithId(this.#ring, keyId)
    if (!keys) {
      throw failed(
        `the connecting member uses a cluster secret this member does not hold (key id ${keyId.toString('hex')}); during a rotation every member must hold every member's first secret (docs/security.md)`,
      )
    }
    const nonceS = randomBytes(NONCE)
    this.#keys = keys
    this.#t = transcript(nonceC, nonceS, idC, this.#id, keyId)
    this.#psk = connectionKey(keys, nonceC, nonceS, idC, this.#id)
    this.#peer = idC
    return Buffer.concat([nonceS, this.#id, proof(keys, 'S', this.#t)])
  }

  /** Checks AUTH frame 3 (the connecting side's proof); returns the session. Throws AUTH_FAILED. */
  finish(body: Buffer): Session {
    const t = this.#t
    const keys = this.#keys
    if (!t || !keys || !this.#psk || !this.#peer) throw failed('AUTH proof before AUTH start')
    if (body.length !== AUTH3_BYTES || !timingSafeEqual(proof(keys, 'C', t), body)) {
      throw failed('the connecting member does not hold this cluster secret')
    }
    return { psk: this.#psk, peerId: this.#peer }
  }
}
