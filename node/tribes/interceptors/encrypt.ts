/**
 * Tribes' EncryptInterceptor, with AES-256-GCM: the header map and body of every message are sealed
 * together (so interceptor headers are authenticated too); the frame header keeps only the sequence
 * number e. Replay protection uses per-sender sequence numbers, not clocks: the additional data binds
 * each ciphertext to its sender's uniqueId and sequence number, and a receiver refuses a sequence
 * number it has seen or one older than `replayWindow` (1024) behind the newest.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { decodePlain, encodePlain } from '../codec.ts'
import { CatteryError, codes } from '../errors.ts'
import { type IncomingMessage, Interceptor, type OutgoingMessage } from '../interceptor.ts'
import { describeMember, type Member, memberId } from '../member.ts'
import type { InterceptorConfig } from '../options.ts'

type Config = Extract<InterceptorConfig, { type: 'Encrypt' }>

const NONCE = 12
const TAG = 16
/** Senders whose replay windows are kept; the least recently heard is forgotten past this. */
const MAX_SENDERS = 4096

interface Window {
  highest: number
  /** slot (seq % size) -> the sequence number last accepted in that slot */
  seen: Float64Array
}

export class EncryptInterceptor extends Interceptor {
  readonly name = 'Encrypt'
  readonly #key: Buffer
  readonly #windowSize: number
  readonly #windows = new Map<string, Window>()
  #seq = 0
  readonly #counts = { encrypted: 0, decrypted: 0, authFailures: 0, replays: 0 }

  constructor(config: Config) {
    super()
    this.#key = loadKey(config)
    this.#windowSize = config.replayWindow ?? 1024
  }

  override sendMessage(to: Member[], message: OutgoingMessage): Promise<void> {
    const seq = ++this.#seq
    const nonce = randomBytes(NONCE)
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce)
    cipher.setAAD(aad(this.ctx.localMember.uniqueId, seq))
    const sealed = Buffer.concat([
      nonce,
      cipher.update(encodePlain([message.header, message.body])),
      cipher.final(),
      cipher.getAuthTag(),
    ])
    this.#counts.encrypted++
    return this.next.sendMessage(to, { options: message.options, header: { e: seq }, body: sealed })
  }

  override messageReceived(message: IncomingMessage): void {
    const seq = message.header.e
    if (!Number.isSafeInteger(seq) || (seq as number) < 1 || message.body.length < NONCE + TAG) {
      this.#refuse(message, codes.ENCRYPT_AUTH_FAILED, 'message is not encrypted', 'authFailures')
      return
    }
    let opened: unknown
    try {
      const body = message.body
      const decipher = createDecipheriv('aes-256-gcm', this.#key, body.subarray(0, NONCE))
      decipher.setAAD(aad(message.from.uniqueId, seq as number))
      decipher.setAuthTag(body.subarray(body.length - TAG))
      opened = decodePlain(
        Buffer.concat([decipher.update(body.subarray(NONCE, body.length - TAG)), decipher.final()]),
      )
    } catch {
      this.#refuse(
        message,
        codes.ENCRYPT_AUTH_FAILED,
        'cannot decrypt (wrong key or tampered)',
        'authFailures',
      )
      return
    }
    if (!this.#fresh(memberId(message.from), seq as number)) {
      this.#refuse(message, codes.ENCRYPT_REPLAY, `sequence number ${seq} was already used`, 'replays')
      return
    }
    const [header, body] = opened as [Record<string, unknown>, Uint8Array]
    this.#counts.decrypted++
    super.messageReceived({ ...message, header: header ?? {}, body })
  }

  override stats(): Record<string, number> {
    return { ...this.#counts }
  }

  /** Records `seq` for a sender; false when it was seen or is older than the window. */
  #fresh(sender: string, seq: number): boolean {
    let w = this.#windows.get(sender)
    if (w)
      this.#windows.delete(sender) // re-inserted below: Map order is least recently heard first
    else {
      w = { highest: 0, seen: new Float64Array(this.#windowSize) }
      if (this.#windows.size >= MAX_SENDERS) this.#windows.delete(this.#windows.keys().next().value as string)
    }
    this.#windows.set(sender, w)
    if (seq <= w.highest - this.#windowSize) return false
    const slot = seq % this.#windowSize
    if (w.seen[slot] === seq) return false
    w.seen[slot] = seq
    if (seq > w.highest) w.highest = seq
    return true
  }

  #refuse(message: IncomingMessage, code: string, why: string, counter: 'authFailures' | 'replays'): void {
    this.#counts[counter]++
    const err = new CatteryError(code, `${why}: message from ${describeMember(message.from)} refused`)
    this.ctx.logger.warn({ code, from: describeMember(message.from) }, err.message)
    message.done(err)
  }
}

function aad(uniqueId: Uint8Array, seq: number): Buffer {
  const b = Buffer.alloc(24)
  b.set(uniqueId, 0)
  b.writeBigUInt64BE(BigInt(seq), 16)
  return b
}

/** 32 bytes from keyFile (hex, base64 or raw) or from the environment variable keyEnv (hex or base64). */
function loadKey(config: Config): Buffer {
  if ((config.keyFile === undefined) === (config.keyEnv === undefined)) {
    throw new CatteryError(codes.ENCRYPT_KEY, 'Encrypt needs exactly one of keyFile, keyEnv')
  }
  let raw: Buffer
  let source: string
  if (config.keyFile !== undefined) {
    source = `key file ${config.keyFile}`
    try {
      raw = readFileSync(config.keyFile)
    } catch (err) {
      throw new CatteryError(codes.ENCRYPT_KEY, `cannot read ${source}: ${(err as Error).message}`)
    }
  } else {
    source = `environment variable ${config.keyEnv}`
    const value = process.env[config.keyEnv as string]
    if (!value) throw new CatteryError(codes.ENCRYPT_KEY, `${source} is not set`)
    raw = Buffer.from(value)
  }
  if (raw.length === 32 && config.keyFile !== undefined && !/^[\x20-\x7e]*$/.test(raw.toString('latin1')))
    return raw
  const text = raw.toString('utf8').trim()
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex')
  const b64 = Buffer.from(text, 'base64')
  if (b64.length === 32 && /^[A-Za-z0-9+/=_-]+$/.test(text)) return b64
  throw new CatteryError(
    codes.ENCRYPT_KEY,
    `${source} must hold a 256-bit key: 64 hex characters or base64 of 32 bytes (got ${text.length} characters); e.g. openssl rand -hex 32`,
  )
}
