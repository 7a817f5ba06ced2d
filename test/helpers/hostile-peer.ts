/**
 * A hostile (or merely foreign) peer that speaks the documented wire format (docs/protocol.md) over a
 * raw socket: plain frames, or the AUTH handshake with whatever secret it is given, then frames in TLS
 * keyed by it (as a member does). It records every byte it sends on the wire — TLS records included —
 * so a test can replay them.
 */
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import { Duplex } from 'node:stream'
import tls from 'node:tls'
import { decodePlain, encode, encodePlain } from '../../node/tribes/codec.ts'
import { createLocalMember, fromWire, type Member, toWire } from '../../node/tribes/member.ts'
import { ClientHandshake, type Session } from '../../node/tribes/security/handshake.ts'
import { clusterKeys } from '../../node/tribes/security/keys.ts'
import { clientOptions } from '../../node/tribes/security/tls-upgrade.ts'
import {
  encodeFrame,
  type Frame,
  FrameDecoder,
  FrameKind,
  type FrameKindValue,
} from '../../node/tribes/transport/frame.ts'

export class HostilePeer {
  readonly socket: net.Socket
  readonly sent: Buffer[] = []
  readonly frames: Frame[] = []
  readonly member: Member
  session: Session | undefined
  readonly closed: Promise<void>
  #decoder: FrameDecoder
  /** After a successful handshake: the TLS session frames go through. */
  #tls: tls.TLSSocket | undefined
  #waiters: Array<() => void> = []

  private constructor(socket: net.Socket, member: Member) {
    this.socket = socket
    this.member = member
    this.#decoder = this.#read(socket)
    socket.on('error', () => {})
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        resolve()
        for (const w of this.#waiters.splice(0)) w()
      }),
    )
  }

  static connect(port: number, member?: Member): Promise<HostilePeer> {
    const m = member ?? createLocalMember({ host: '127.0.0.1', port: 1, name: 'mallory' })
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(new HostilePeer(s, m)))
      s.once('error', reject)
    })
  }

  /** Writes raw bytes (recorded). */
  raw(bytes: Buffer): void {
    this.sent.push(bytes)
    if (!this.socket.destroyed) this.socket.write(bytes)
  }

  /** Decodes the frames `source` brings into `frames`. */
  #read(source: net.Socket): FrameDecoder {
    const decoder = new FrameDecoder(1 << 24, (f) => {
      this.frames.push(f)
      for (const w of this.#waiters.splice(0)) w()
    })
    source.on('data', (c: Buffer) => {
      try {
        decoder.push(c)
      } catch {
        this.socket.destroy()
      }
    })
    return decoder
  }

  /** Writes a frame: in clear, or through TLS once a handshake is done. */
  frame(kind: FrameKindValue, flags: number, id: number, body: Uint8Array): void {
    const f = Buffer.concat(encodeFrame(kind, flags, id, undefined, body))
    if (this.#tls) this.#tls.write(f)
    else this.raw(f)
  }

  hello(): void {
    this.frame(FrameKind.HELLO, 0, 0, encodePlain(toWire(this.member)))
  }

  message(payload: unknown, flags = 8, id = 1): void {
    this.frame(FrameKind.MESSAGE, flags, id, encode(payload))
  }

  /** The AUTH handshake with `secret` (resolves once the node answered, whether the proof held). */
  async handshake(secret: string): Promise<boolean> {
    const hs = new ClientHandshake(clusterKeys(secret), this.member.uniqueId)
    this.frame(FrameKind.AUTH, 0, 1, hs.start())
    const answer = await this.next((f) => f.kind === FrameKind.AUTH)
    if (!answer) return false
    let reply: Buffer
    let session: Session | undefined
    try {
      const r = hs.answer(answer.body)
      reply = r.reply
      session = r.session
    } catch {
      // A wrong secret: send a proof anyway.
      reply = randomBytes(32)
    }
    this.frame(FrameKind.AUTH, 0, 3, reply) // in clear: TLS starts after it
    if (!session) return false
    this.session = session
    this.#decoder.detach()
    // TLS over a stream of our own between it and the socket, so its records are recorded too.
    const wire = new Duplex({
      write: (chunk: Buffer, _encoding, done) => {
        this.raw(chunk)
        done()
      },
      read() {},
    })
    this.socket.removeAllListeners('data')
    this.socket.on('data', (c: Buffer) => {
      try {
        wire.push(c)
      } catch {
        this.socket.destroy() // TLS throws a failed session's error from here
      }
    })
    this.socket.on('close', () => wire.destroy())
    const secure = tls.connect({ socket: wire as net.Socket, ...clientOptions(session.psk) })
    secure.on('error', () => this.socket.destroy())
    this.#read(secure)
    this.#tls = secure
    return await new Promise<boolean>((resolve) => {
      secure.once('secureConnect', () => resolve(true))
      this.closed.then(() => resolve(false))
    })
  }

  /** Waits for a frame matching `pick` (undefined if the connection closes first). */
  async next(pick: (f: Frame) => boolean, timeoutMs = 3000): Promise<Frame | undefined> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const f = this.frames.find(pick)
      if (f) return f
      if (this.socket.destroyed || Date.now() > deadline) return undefined
      await new Promise<void>((r) => {
        this.#waiters.push(r)
        setTimeout(r, 50)
      })
    }
  }

  /** The member a PONG names. */
  static memberOf(f: Frame | undefined): Member | undefined {
    return f ? fromWire(decodePlain(f.body)) : undefined
  }

  close(): void {
    this.#tls?.destroy()
    this.socket.destroy()
  }
}
