/**
 * The TCP receiver: binds `port` (or the next free one, up to `autoBind` ports), decodes frames from
 * every inbound connection and hands them on. A connection that sends anything malformed — bad magic,
 * another protocol version, an oversized or cut frame, a frame that never completes — is refused with
 * a coded, logged error and closed; other connections are not affected.
 */
import net from 'node:net'
import type { Logger } from 'pino'
import { decodePlain } from '../codec.ts'
import { CatteryError, codes } from '../errors.ts'
import { fromWire, type Member } from '../member.ts'
import { encodeFrame, type Frame, FrameDecoder, FrameKind, type FrameKindValue } from './frame.ts'

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
  readonly #connections = new Set<Inbound>()
  #server: net.Server | undefined
  #sweep: NodeJS.Timeout | undefined
  readonly refused: Record<string, number> = {}
  port = 0

  constructor(config: ReceiverConfig, handlers: ReceiverHandlers, logger: Logger) {
    this.#config = config
    this.#handlers = handlers
    this.#logger = logger
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
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  #accept(socket: net.Socket): void {
    const conn: Inbound = {
      socket,
      member: undefined,
      decoder: undefined as unknown as FrameDecoder,
      corked: false,
    }
    conn.decoder = new FrameDecoder(this.#config.maxFrameBytes, (frame) => this.#onFrame(conn, frame))
    this.#connections.add(conn)
    socket.on('data', (chunk: Buffer) => {
      try {
        conn.decoder.push(chunk)
      } catch (err) {
        this.#refuse(conn, err as CatteryError)
      }
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      this.#connections.delete(conn)
      if (conn.decoder.partialSince && conn.refused === undefined && this.#server) {
        this.#count(codes.FRAME_TRUNCATED)
        this.#logger.warn(
          { code: codes.FRAME_TRUNCATED, remote: remoteOf(socket), buffered: conn.decoder.buffered },
          'connection closed in the middle of a frame; the partial frame was discarded',
        )
      }
    })
  }

  #onFrame(conn: Inbound, frame: Frame): void {
    switch (frame.kind) {
      case FrameKind.HELLO: {
        const member = fromWire(safeDecode(frame.body))
        if (!member) throw new CatteryError(codes.FRAME_BAD_HEADER, 'HELLO frame does not carry a member')
        conn.member = member
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
        this.#write(conn, FrameKind.PONG, frame.id, this.#handlers.pong(from))
        return
      }
      case FrameKind.BYE: {
        const member = fromWire(safeDecode(frame.body))
        if (member) this.#handlers.bye(member)
        // Answered once handled, so the leaver closes its connections only after we know it left.
        this.#write(conn, FrameKind.PONG, frame.id, this.#handlers.pong(undefined))
        return
      }
      default:
        throw new CatteryError(codes.FRAME_BAD_KIND, `frame kind ${frame.kind} is not expected by a receiver`)
    }
  }

  #write(conn: Inbound, kind: FrameKindValue, id: number, body: Uint8Array): void {
    const socket = conn.socket
    if (!conn.corked) {
      conn.corked = true
      socket.cork()
      setImmediate(() => {
        conn.corked = false
        socket.uncork()
      })
    }
    for (const b of encodeFrame(kind, 0, id, undefined, body)) socket.write(b)
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
    this.refused[code] = (this.refused[code] ?? 0) + 1
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
      }
    }
  }
}

interface Inbound {
  socket: net.Socket
  member: Member | undefined
  decoder: FrameDecoder
  corked: boolean
  refused?: string
}

const EMPTY = new Uint8Array(0)
/** Inbound connections accepted at once; more are closed by the server on arrival (docs/limits.md). */
const MAX_CONNECTIONS = 4096

function safeDecode(body: Uint8Array): unknown {
  try {
    return decodePlain(body)
  } catch {
    return undefined
  }
}

const remoteOf = (s: net.Socket): string => `${s.remoteAddress}:${s.remotePort}`
