/**
 * The TCP receiver: binds `port` (or the next free one, up to `autoBind` ports), decodes frames from
 * every inbound connection and hands them on. A connection that sends anything malformed — bad magic,
 * another protocol version, an oversized or cut frame, a frame that never completes — is refused with
 * a coded, logged error and closed; other connections are not affected.
 *
 * Bounded before authenticated: until a connection completed its handshake (with a cluster secret,
 * the AUTH exchange of security/handshake.ts; without, its HELLO, PING or BYE) a frame may announce
 * at most PRE_AUTH_FRAME_BYTES, and the handshake must be done within `frameTimeout`. A source
 * address may hold MAX_CONNECTIONS_PER_SOURCE connections at once; more are closed on arrival.
 * With a secret, everything after the handshake goes through TLS keyed by it (security/tls-upgrade.ts)
 * and a HELLO, PING or BYE must name the member the handshake proved. Answers (ACKs, PONGs) of one
 * event-loop turn go out together, as one write.
 */
import net from 'node:net'
import type { Logger } from 'pino'
import { decodePlain } from '../codec.ts'
import { CatteryError, codes } from '../errors.ts'
import { fromWire, type Member } from '../member.ts'
import type { ChannelSecurity } from '../security/channel-security.ts'
import type { ServerHandshake } from '../security/handshake.ts'
import { SecureAcceptor } from '../security/tls-upgrade.ts'
import { encodeFrame, type Frame, FrameDecoder, FrameKind, type FrameKindValue } from './frame.ts'
import { writeAll } from './write-all.ts'

export interface ReceiverHandlers {
  /** A MESSAGE frame from a member that said HELLO; `reply` sends ACK or FAIL_ACK for it. */
  message(from: Member, frame: Frame, reply: (error?: CatteryError) => void): void
  /** A PING: answered with the PONG body returned here (the local member). */
  pong(from: Member | undefined): Buffer
  /** A BYE: the member is leaving. */
  bye(member: Member): void
}

export interface ReceiverConfig {
  host: string
  port: number
  autoBind: number
  maxFrameBytes: number
  frameTimeout: number
}

export class Receiver {
  readonly #config: ReceiverConfig
  readonly #handlers: ReceiverHandlers
  readonly #logger: Logger
  readonly #security: ChannelSecurity
  readonly #connections = new Set<Inbound>()
  readonly #perSource = new Map<string, number>()
  #server: net.Server | undefined
  #sweep: NodeJS.Timeout | undefined
  /** With a secret: continues each connection in TLS after its AUTH handshake. */
  readonly #tls: SecureAcceptor<Inbound> | undefined
  port = 0

  constructor(config: ReceiverConfig, handlers: ReceiverHandlers, logger: Logger, security: ChannelSecurity) {
    this.#config = config
    this.#handlers = handlers
    this.#logger = logger
    this.#security = security
    if (security.keys) {
      this.#tls = new SecureAcceptor<Inbound>(
        {
          secure: (conn, socket) => this.#secured(conn, socket),
          failed: (conn, err, socket) => {
            if (conn) this.#tlsFailed(conn, err)
            else {
              this.#count(codes.FRAME_AUTH_FAILED)
              socket.destroy()
            }
          },
        },
        config.frameTimeout,
      )
    }
  }

  /** Refusals by code (shared with the rest of the channel). */
  get refused(): Record<string, number> {
    return this.#security.refused
  }

  async start(): Promise<number> {
    const { host, port, autoBind } = this.#config
    const last = port === 0 ? 0 : port + Math.max(1, autoBind) - 1
    let lastError: Error | undefined
    for (let p = port; p <= last; p++) {
      const server = net.createServer({ noDelay: true }, (socket) => this.#accept(socket))
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject)
          server.listen({ host, port: p, exclusive: true }, () => {
            server.off('error', reject)
            resolve()
          })
        })
        server.maxConnections = MAX_CONNECTIONS
        this.#server = server
        this.port = (server.address() as net.AddressInfo).port
        break
      } catch (err) {
        lastError = err as Error
        server.close()
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') break
      }
    }
    if (!this.#server) {
      throw new CatteryError(
        codes.BIND_FAILED,
        `cannot listen on ${host} ports ${port}-${last}: ${lastError?.message ?? 'unknown error'}`,
        { cause: lastError },
      )
    }
    const every = Math.max(50, Math.min(1000, Math.floor(this.#config.frameTimeout / 4)))
    this.#sweep = setInterval(() => this.#checkSlowFrames(), every).unref()
    return this.port
  }

  async stop(): Promise<void> {
    clearInterval(this.#sweep)
    const server = this.#server
    this.#server = undefined
    for (const c of this.#connections) c.socket.destroy()
    this.#connections.clear()
    this.#perSource.clear()
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  #accept(socket: net.Socket): void {
    const source = socket.remoteAddress ?? '?'
    const open = this.#perSource.get(source) ?? 0
    if (open >= MAX_CONNECTIONS_PER_SOURCE) {
      this.#count(codes.TOO_MANY_CONNECTIONS)
      this.#logger.warn(
        { code: codes.TOO_MANY_CONNECTIONS, remote: remoteOf(socket), open },
        `refused a connection: ${source} already holds ${MAX_CONNECTIONS_PER_SOURCE}`,
      )
      socket.on('error', () => {})
      socket.destroy()
      return
    }
    this.#perSource.set(source, open + 1)
    const conn: Inbound = {
      socket,
      member: undefined,
      decoder: undefined as unknown as FrameDecoder,
      source,
      outbox: [],
      handshake: this.#security.server(),
      peerId: undefined,
      authenticated: false,
      openedAt: Date.now(),
    }
    this.#connections.add(conn)
    this.#read(conn, socket, Math.min(PRE_AUTH_FRAME_BYTES, this.#config.maxFrameBytes))
    socket.on('error', () => {})
    socket.on('close', () => this.#closed(conn))
  }

  /** Forgets `conn` once its TCP or its TLS socket closed, whichever is first. */
  #closed(conn: Inbound): void {
    if (!this.#connections.delete(conn)) return
    const left = (this.#perSource.get(conn.source) ?? 1) - 1
    if (left > 0) this.#perSource.set(conn.source, left)
    else this.#perSource.delete(conn.source)
    if (conn.decoder.partialSince && conn.refused === undefined && this.#server) {
      this.#count(codes.FRAME_TRUNCATED)
      this.#logger.warn(
        { code: codes.FRAME_TRUNCATED, remote: remoteOf(conn.socket), buffered: conn.decoder.buffered },
        'connection closed in the middle of a frame; the partial frame was discarded',
      )
    }
  }

  /** Decodes the frames `socket` brings: the TCP socket, or the TLS one that continues it after AUTH. */
  #read(conn: Inbound, socket: net.Socket, maxFrameBytes: number): void {
    const decoder = new FrameDecoder(maxFrameBytes, (frame) => this.#onFrame(conn, frame))
    conn.decoder = decoder
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk)
      } catch (err) {
        this.#refuse(conn, err as CatteryError)
      }
    })
  }

  #onFrame(conn: Inbound, frame: Frame): void {
    if (frame.kind === FrameKind.AUTH) {
      this.#onAuth(conn, frame)
      return
    }
    if (conn.handshake) {
      throw new CatteryError(
        codes.AUTH_REQUIRED,
        `frame kind ${frame.kind} before the handshake: this cluster needs its secret (docs/security.md)`,
      )
    }
    switch (frame.kind) {
      case FrameKind.HELLO: {
        const member = fromWire(safeDecode(frame.body))
        if (!member) throw new CatteryError(codes.FRAME_BAD_HEADER, 'HELLO frame does not carry a member')
        this.#provedBy(conn, member, 'HELLO')
        conn.member = member
        this.#authenticated(conn)
        return
      }
      case FrameKind.MESSAGE: {
        const from = conn.member
        if (!from) throw new CatteryError(codes.NO_HANDSHAKE, 'MESSAGE frame before HELLO')
        this.#handlers.message(from, frame, (error) => {
          if (conn.socket.destroyed) return
          if (error)
            this.#write(conn, FrameKind.FAIL_ACK, frame.id, Buffer.from(`${error.code} ${error.message}`))
          else this.#write(conn, FrameKind.ACK, frame.id, EMPTY)
        })
        return
      }
      case FrameKind.PING: {
        const from = frame.body.length ? fromWire(safeDecode(frame.body)) : undefined
        if (from) this.#provedBy(conn, from, 'PING')
        this.#authenticated(conn)
        this.#write(conn, FrameKind.PONG, frame.id, this.#handlers.pong(from))
        return
      }
      case FrameKind.BYE: {
        const member = fromWire(safeDecode(frame.body))
        if (member) this.#provedBy(conn, member, 'BYE')
        this.#authenticated(conn)
        if (member) this.#handlers.bye(member)
        // Answered once handled, so the leaver closes its connections only after we know it left.
        this.#write(conn, FrameKind.PONG, frame.id, this.#handlers.pong(undefined))
        return
      }
      default:
        throw new CatteryError(codes.FRAME_BAD_KIND, `frame kind ${frame.kind} is not expected by a receiver`)
    }
  }

  /** The AUTH exchange (security/handshake.ts): start, then the connecting side's proof. */
  #onAuth(conn: Inbound, frame: Frame): void {
    const hs = conn.handshake
    if (!hs) {
      throw new CatteryError(
        codes.AUTH_UNEXPECTED,
        this.#security.keys
          ? 'AUTH frame after the handshake'
          : 'the peer uses a cluster secret and this node has none: give every member the same --cluster-secret-file',
      )
    }
    if (!hs.started) {
      writeAll(conn.socket, encodeFrame(FrameKind.AUTH, 0, 2, undefined, hs.challenge(frame.body)))
      return
    }
    const session = hs.finish(frame.body)
    conn.handshake = undefined
    conn.peerId = session.peerId
    this.#authenticated(conn)
    this.#tls?.accept(conn.socket, session.psk, conn.decoder.detach(), conn)
  }

  /** The TLS session that continues `conn` is up: its frames come from `socket` now. */
  #secured(conn: Inbound, socket: net.Socket): void {
    conn.socket = socket
    this.#read(conn, socket, this.#config.maxFrameBytes)
    socket.on('error', (err) => this.#tlsFailed(conn, err))
    socket.on('close', () => this.#closed(conn))
  }

  #tlsFailed(conn: Inbound, err: Error): void {
    if (conn.refused === undefined)
      this.#refuse(conn, new CatteryError(codes.FRAME_AUTH_FAILED, `TLS after the handshake: ${err.message}`))
  }

  #authenticated(conn: Inbound): void {
    if (conn.authenticated) return
    conn.authenticated = true
    conn.decoder.maxFrameBytes = this.#config.maxFrameBytes
  }

  /** With a secret, a member named on a connection must be the one its handshake proved. */
  #provedBy(conn: Inbound, member: Member, what: string): void {
    if (conn.peerId && !conn.peerId.equals(member.uniqueId)) {
      throw new CatteryError(codes.AUTH_FAILED, `${what} names another member than the handshake proved`)
    }
  }

  /** Queues an answer; the answers of one event-loop turn leave together (see #flush). */
  #write(conn: Inbound, kind: FrameKindValue, id: number, body: Uint8Array): void {
    if (conn.outbox.length === 0) setImmediate(() => this.#flush(conn))
    for (const b of encodeFrame(kind, 0, id, undefined, body)) conn.outbox.push(b)
  }

  #flush(conn: Inbound): void {
    const out = conn.outbox
    conn.outbox = []
    if (conn.socket.destroyed || out.length === 0) return
    writeAll(conn.socket, out)
  }

  #refuse(conn: Inbound, err: CatteryError): void {
    const code = err.code ?? codes.FRAME_BAD_HEADER
    conn.refused = code
    this.#count(code)
    this.#logger.warn(
      { code, remote: remoteOf(conn.socket), member: conn.member?.name, err: err.message },
      'refused a connection that sent a bad frame',
    )
    conn.socket.destroy()
  }

  #count(code: string): void {
    this.#security.count(code)
  }

  #checkSlowFrames(): void {
    const limit = Date.now() - this.#config.frameTimeout
    for (const conn of this.#connections) {
      const since = conn.decoder.partialSince
      if (since && since < limit) {
        this.#refuse(
          conn,
          new CatteryError(
            codes.FRAME_TIMEOUT,
            `frame not completed within ${this.#config.frameTimeout} ms (${conn.decoder.buffered} bytes buffered)`,
          ),
        )
      } else if (!since && !conn.authenticated && conn.openedAt < limit) {
        this.#refuse(
          conn,
          new CatteryError(
            codes.HANDSHAKE_TIMEOUT,
            `no completed handshake within ${this.#config.frameTimeout} ms of connecting`,
          ),
        )
      }
    }
  }
}

interface Inbound {
  socket: net.Socket
  member: Member | undefined
  decoder: FrameDecoder
  /** Answers waiting for the end of the event-loop turn. */
  outbox: Buffer[]
  refused?: string
  /** With a secret: the handshake under way (undefined once done). */
  handshake: ServerHandshake | undefined
  /** Its source address (connections per source are bounded). */
  source: string
  /** The uniqueId the handshake proved. */
  peerId: Buffer | undefined
  /** Handshake done: frames may be as large as maxFrameBytes. */
  authenticated: boolean
  openedAt: number
}

const EMPTY = new Uint8Array(0)
/** Inbound connections accepted at once; more are closed by the server on arrival (docs/limits.md). */
const MAX_CONNECTIONS = 4096
/** Largest frame a connection may announce before its handshake is done (docs/limits.md). */
const PRE_AUTH_FRAME_BYTES = 64 * 1024
/** Connections one source address may hold at once (docs/limits.md). */
export const MAX_CONNECTIONS_PER_SOURCE = 64

function safeDecode(body: Uint8Array): unknown {
  try {
    return decodePlain(body)
  } catch {
    return undefined
  }
}

const remoteOf = (s: net.Socket): string => `${s.remoteAddress}:${s.remotePort}`
