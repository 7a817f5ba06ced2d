/**
 * One outbound TCP connection to one member. Frames are written in call order (so order per
 * destination holds), batched per tick with cork/uncork, and sent only after the HELLO that tells the
 * receiver who we are. Frames waiting for ACKs are tracked by id; the transport's sweep times them out.
 * With a cluster secret the connection opens with the AUTH handshake (security/handshake.ts): it is
 * 'connecting' until the member proved it holds the secret and is the member we meant, and the TLS
 * session keyed by the handshake (security/tls-upgrade.ts) is up; everything after AUTH goes through
 * TLS, and a frame sent again after a reconnection is encrypted again under the new connection's key.
 */
import net from 'node:net'
import { CatteryError, codes } from '../errors.ts'
import { describeMember, type Member } from '../member.ts'
import { Pacer } from '../pacer.ts'
import type { ClientHandshake } from '../security/handshake.ts'
import { secureClient } from '../security/tls-upgrade.ts'
import { encodeFrame, type Frame, FrameDecoder, FrameKind, type FrameKindValue } from './frame.ts'
import { writeAll } from './write-all.ts'

export interface PeerConnectionOptions {
  timeout: number
  maxRetryAttempts: number
  /** Asynchronous frames are written at most once per this many ms (see #write). */
  asyncWriteInterval: number
  maxFrameBytes: number
  /** Bytes buffered in the socket above which a send waits for 'drain' before resolving. */
  highWaterMark: number
  /** After failing to connect, sends fail at once for this long instead of each trying again. */
  failFastMs: number
}

export interface PeerConnectionHooks {
  hello(): Buffer
  /** A handshake for a new connection when the channel has a cluster secret. */
  handshake(): ClientHandshake | undefined
  /** The member failed authentication (counted and logged by the owner). */
  refused(member: Member, err: CatteryError): void
  /** The connection failed or closed unexpectedly: the member is a suspect. */
  lost(member: Member, cause: CatteryError): void
}

interface Pending {
  resolve(): void
  reject(err: CatteryError): void
  deadline: number
  frame: Buffer[]
  attempts: number
}

interface Waiting {
  frame: Buffer[]
  id: number
  wantAck: boolean
  attempts: number
  resolve(): void
  reject(err: CatteryError): void
}

type State = 'idle' | 'connecting' | 'open' | 'closed'

/** An outbox this full is written at once. */
const OUTBOX_FLUSH_BYTES = 256 * 1024
const RESOLVED = Promise.resolve()

export class PeerConnection {
  readonly member: Member
  readonly #options: PeerConnectionOptions
  readonly #hooks: PeerConnectionHooks
  #socket: net.Socket | undefined
  #state: State = 'idle'
  #attempts = 0
  #failedUntil = 0
  #lastFailure: CatteryError | undefined
  #nextId = 1
  #outbox: Buffer[] = []
  #outboxBytes = 0
  readonly #pacer: Pacer
  #waiting: Waiting[] = []
  readonly #pending = new Map<number, Pending>()
  #drainWaiters: Array<() => void> = []
  #handshake: ClientHandshake | undefined
  #connectTimer: NodeJS.Timeout | undefined
  /** Why the socket is being closed, when we close it (else 'close' says lost or failed). */
  #closeCause: CatteryError | undefined

  constructor(member: Member, options: PeerConnectionOptions, hooks: PeerConnectionHooks) {
    this.member = member
    this.#options = options
    this.#hooks = hooks
    this.#pacer = new Pacer(options.asyncWriteInterval, () => this.#flush())
  }

  get pendingAcks(): number {
    return this.#pending.size
  }

  /** Opens the connection ahead of the first send (so a crash of the peer is noticed at once). */
  warm(): void {
    if (this.#state === 'idle' && Date.now() >= this.#failedUntil) this.#connect()
  }

  send(
    kind: FrameKindValue,
    flags: number,
    header: Uint8Array | undefined,
    body: Uint8Array,
    wantAck: boolean,
  ) {
    if (this.#state === 'closed') return Promise.reject(this.#closedError())
    const id = this.#nextId
    this.#nextId = id === 0xffffffff ? 1 : id + 1
    const frame = encodeFrame(kind, flags, id, header, body)
    if (this.#state === 'open') {
      this.#write(frame, wantAck)
      if (wantAck) return this.#awaitAck(id, frame, 0)
      return this.#afterWrite()
    }
    if (this.#state === 'idle') {
      if (Date.now() < this.#failedUntil && this.#lastFailure) return Promise.reject(this.#lastFailure)
      this.#connect()
    }
    return new Promise<void>((resolve, reject) => {
      this.#waiting.push({ frame, id, wantAck, attempts: 0, resolve, reject })
    })
  }

  /** Rejects ACKs whose deadline passed; returns how many. */
  sweep(now: number): number {
    let expired = 0
    for (const [id, p] of this.#pending) {
      if (p.deadline > now) break // insertion order = deadline order
      this.#pending.delete(id)
      p.reject(
        new CatteryError(
          codes.ACK_TIMEOUT,
          `no ACK from ${describeMember(this.member)} within ${this.#options.timeout} ms`,
        ),
      )
      expired++
    }
    return expired
  }

  close(): void {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    const err = this.#closedError()
    this.#failAll(err, false)
    // What is in the outbox still goes out (a graceful stop drains queues into it), then FIN.
    const socket = this.#socket
    if (socket && !socket.connecting) {
      this.#flush()
      socket.end()
      setTimeout(() => socket.destroy(), 1000).unref()
    } else socket?.destroy()
    this.#takeOutbox()
    this.#socket = undefined
  }

  /** Empties the outbox and cancels its pending flush; returns what it held. */
  #takeOutbox(): Buffer[] {
    this.#pacer.cancel()
    const out = this.#outbox
    this.#outbox = []
    this.#outboxBytes = 0
    return out
  }

  #closedError(): CatteryError {
    return new CatteryError(codes.MEMBER_GONE, `connection to ${describeMember(this.member)} is closed`)
  }

  #connect(): void {
    this.#state = 'connecting'
    const socket = net.connect({ host: this.member.host, port: this.member.port, noDelay: true })
    this.#socket = socket
    this.#handshake = undefined
    this.#closeCause = undefined
    const timer = setTimeout(() => {
      ;(this.#socket ?? socket).destroy(
        new CatteryError(
          codes.CONNECT_FAILED,
          `connect to ${describeMember(this.member)} timed out after ${this.#options.timeout} ms`,
        ),
      )
    }, this.#options.timeout)
    this.#connectTimer = timer
    socket.on('connect', () => {
      const hs = this.#hooks.handshake()
      if (!hs) {
        this.#opened()
        return
      }
      this.#handshake = hs
      for (const b of encodeFrame(FrameKind.AUTH, 0, 1, undefined, hs.start())) socket.write(b)
    })
    this.#read(socket)
    socket.on('close', () => {
      clearTimeout(timer)
      this.#onClose(socket)
    })
  }

  /** Reads frames from `socket`: the TCP socket, or the TLS one that continues it after AUTH. */
  #read(socket: net.Socket): void {
    const decoder = new FrameDecoder(this.#options.maxFrameBytes, (f) => this.#onFrame(f, socket, decoder))
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk)
      } catch (err) {
        const e = err as CatteryError
        if (e.code === codes.AUTH_FAILED) {
          this.#closeCause = e
          this.#hooks.refused(this.member, e)
        }
        socket.destroy(e)
      }
    })
    socket.on('drain', () => this.#flushDrainWaiters())
    socket.on('error', () => {}) // 'close' follows with the cause
  }

  #onClose(socket: net.Socket): void {
    if (this.#socket !== socket || this.#state === 'closed') return
    const wasOpen = this.#state === 'open'
    this.#socket = undefined
    this.#takeOutbox() // dropped: frames awaiting an ACK are sent again from #pending
    this.#state = 'idle'
    const cause = this.#closeCause
      ? this.#closeCause
      : wasOpen
        ? new CatteryError(codes.CONNECTION_LOST, `connection to ${describeMember(this.member)} was lost`)
        : new CatteryError(codes.CONNECT_FAILED, `cannot connect to ${describeMember(this.member)}`)
    this.#onBroken(cause, wasOpen)
  }

  /** Connected (and authenticated, with a secret): HELLO, then everything that waited. */
  #opened(): void {
    clearTimeout(this.#connectTimer)
    this.#state = 'open'
    this.#attempts = 0
    this.#failedUntil = 0
    this.#write(encodeFrame(FrameKind.HELLO, 0, 0, undefined, this.#hooks.hello()))
    const waiting = this.#waiting
    this.#waiting = []
    for (const w of waiting) {
      this.#write(w.frame, w.wantAck)
      if (w.wantAck) this.#awaitAck(w.id, w.frame, w.attempts).then(w.resolve, w.reject)
      else w.resolve()
    }
  }

  /** AUTH frame 2: check the member's proof, send ours, and continue in TLS (tls-upgrade.ts). */
  #onAuth(frame: Frame, socket: net.Socket, decoder: FrameDecoder): void {
    const hs = this.#handshake
    if (!hs)
      throw new CatteryError(codes.AUTH_FAILED, `unexpected AUTH frame from ${describeMember(this.member)}`)
    this.#handshake = undefined
    const { reply, session } = hs.answer(frame.body)
    if (!session.peerId.equals(this.member.uniqueId)) {
      throw new CatteryError(
        codes.AUTH_FAILED,
        `${this.member.host}:${this.member.port} is another member than ${describeMember(this.member)}`,
      )
    }
    for (const b of encodeFrame(FrameKind.AUTH, 0, 3, undefined, reply)) socket.write(b)
    decoder.detach()
    const secure = secureClient(socket, session.psk)
    this.#socket = secure
    this.#read(secure)
    secure.on('close', () => this.#onClose(secure))
    secure.once('secureConnect', () => this.#opened())
  }

  #onBroken(cause: CatteryError, wasOpen: boolean): void {
    this.#flushDrainWaiters()
    // Frames still waiting for an ACK are sent again on a new connection, up to maxRetryAttempts.
    const retry: Waiting[] = []
    for (const [id, p] of this.#pending) {
      if (p.attempts < this.#options.maxRetryAttempts) {
        retry.push({
          frame: p.frame,
          id,
          wantAck: true,
          attempts: p.attempts + 1,
          resolve: p.resolve,
          reject: p.reject,
        })
      } else p.reject(cause)
    }
    this.#pending.clear()
    const canRetry = wasOpen ? retry.length > 0 : this.#attempts < this.#options.maxRetryAttempts
    if (canRetry && (this.#waiting.length > 0 || retry.length > 0)) {
      this.#attempts++
      this.#waiting = [...retry, ...this.#waiting]
      this.#connect()
    } else {
      this.#attempts = 0
      this.#lastFailure = cause
      if (!wasOpen) this.#failedUntil = Date.now() + this.#options.failFastMs
      this.#failAll(cause, true)
    }
    this.#hooks.lost(this.member, cause)
  }

  #failAll(err: CatteryError, keepState: boolean): void {
    const waiting = this.#waiting
    this.#waiting = []
    for (const w of waiting) w.reject(err)
    for (const p of this.#pending.values()) p.reject(err)
    this.#pending.clear()
    if (!keepState) this.#flushDrainWaiters()
  }

  #awaitAck(id: number, frame: Buffer[], attempts: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#pending.set(id, {
        resolve,
        reject,
        deadline: Date.now() + this.#options.timeout,
        frame,
        attempts,
      })
    })
  }

  #afterWrite(): Promise<void> {
    const socket = this.#socket
    if (!socket || socket.writableLength + this.#outboxBytes < this.#options.highWaterMark) return RESOLVED
    return new Promise<void>((resolve) => this.#drainWaiters.push(resolve))
  }

  #flushDrainWaiters(): void {
    const waiters = this.#drainWaiters
    this.#drainWaiters = []
    for (const w of waiters) w()
  }

  /**
   * Frames wait in an outbox and go out together in one write: once the current task is done when
   * one of them waits for an ACK (or is a HELLO); asynchronous frames at most once per asyncWriteInterval
   * ms — the first after a quiet spell on the next turn, the ones behind it together — so under load
   * the messages of many requests share one system call and one wake-up on each side (on loopback and
   * in VMs, a write that wakes its reader costs tens of microseconds).
   */
  #write(frame: Buffer[], urgent = true): void {
    for (const b of frame) {
      this.#outbox.push(b)
      this.#outboxBytes += b.length
    }
    if (this.#outboxBytes >= OUTBOX_FLUSH_BYTES) {
      this.#flush()
      return
    }
    if (urgent) this.#pacer.afterTask()
    else this.#pacer.paced()
  }

  #flush(): void {
    const plain = this.#takeOutbox()
    const socket = this.#socket
    if (!socket || plain.length === 0) return
    this.#pacer.ran()
    writeAll(socket, plain)
  }

  #onFrame(frame: Frame, socket: net.Socket, decoder: FrameDecoder): void {
    if (frame.kind === FrameKind.AUTH) {
      this.#onAuth(frame, socket, decoder)
      return
    }
    if (this.#handshake) {
      throw new CatteryError(
        codes.AUTH_FAILED,
        `${describeMember(this.member)} answered without the handshake`,
      )
    }
    if (frame.kind !== FrameKind.ACK && frame.kind !== FrameKind.FAIL_ACK) return
    const p = this.#pending.get(frame.id)
    if (!p) return // late ACK after a timeout
    this.#pending.delete(frame.id)
    if (frame.kind === FrameKind.ACK) p.resolve()
    else p.reject(remoteFailure(this.member, frame.body))
  }
}

function remoteFailure(member: Member, body: Buffer): CatteryError {
  let detail = 'refused'
  try {
    detail = body.toString('utf8')
  } catch {}
  return new CatteryError(codes.REMOTE_FAILURE, `${describeMember(member)} refused the message: ${detail}`)
}
