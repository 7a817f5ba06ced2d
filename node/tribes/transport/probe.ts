/**
 * A liveness check over a fresh TCP connection: PING (carrying our member, or BYE to say goodbye),
 * then wait for the PONG that names the member answering. A process that is stopped or hung accepts
 * the TCP connection in the kernel but never answers, so it fails the probe (Tribes' plain connect
 * test would call it alive). With a cluster secret the connection opens with the AUTH handshake
 * (security/handshake.ts), the PING and PONG go through TLS keyed by it (security/tls-upgrade.ts),
 * and the PONG must name the member the handshake proved; a member that fails is counted under its
 * code.
 */
import net from 'node:net'
import { decodePlain } from '../codec.ts'
import { CatteryError, codes } from '../errors.ts'
import { fromWire, type Member } from '../member.ts'
import type { ChannelSecurity } from '../security/channel-security.ts'
import type { Session } from '../security/handshake.ts'
import { secureClient } from '../security/tls-upgrade.ts'
import { encodeFrame, type Frame, FrameDecoder, FrameKind } from './frame.ts'
import { writeAll } from './write-all.ts'

/** Largest answer a probe reads (a PONG carries one member). */
const MAX_ANSWER_BYTES = 64 * 1024

export function probe(
  address: { host: string; port: number },
  timeout: number,
  self: Buffer,
  security: ChannelSecurity,
): Promise<Member> {
  return exchange(address, timeout, FrameKind.PING, self, security) as Promise<Member>
}

/** Tells a member we are leaving; resolves once it acknowledged (or failed, or timed out). */
export function sayGoodbye(
  address: { host: string; port: number },
  timeout: number,
  self: Buffer,
  security: ChannelSecurity,
): Promise<void> {
  return exchange(address, timeout, FrameKind.BYE, self, security).then(
    () => undefined,
    () => undefined,
  )
}

function exchange(
  address: { host: string; port: number },
  timeout: number,
  kind: typeof FrameKind.PING | typeof FrameKind.BYE,
  body: Buffer,
  security: ChannelSecurity,
): Promise<Member | undefined> {
  const where = `${address.host}:${address.port}`
  return new Promise((resolve, reject) => {
    const raw = net.connect({ host: address.host, port: address.port, noDelay: true })
    let socket: net.Socket = raw
    const handshake = security.client()
    let session: Session | undefined
    let settled = false
    const finish = (err: CatteryError | undefined, member?: Member) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      raw.destroy()
      if (err) reject(err)
      else resolve(member)
    }
    const timer = setTimeout(
      () => finish(new CatteryError(codes.CONNECT_FAILED, `no answer from ${where} within ${timeout} ms`)),
      timeout,
    )
    const send = () => writeAll(socket, encodeFrame(kind, 0, 1, undefined, body))
    const onFrame = (frame: Frame, decoder: FrameDecoder) => {
      if (frame.kind === FrameKind.AUTH && handshake && !session) {
        const { reply, session: s } = handshake.answer(frame.body)
        for (const b of encodeFrame(FrameKind.AUTH, 0, 3, undefined, reply)) raw.write(b)
        session = s
        decoder.detach()
        socket = secureClient(raw, s.psk)
        read(socket)
        socket.once('secureConnect', send)
        return
      }
      if (frame.kind !== FrameKind.PONG) return
      if (handshake && !session)
        throw new CatteryError(codes.AUTH_FAILED, `${where} answered without the handshake`)
      let member: Member | undefined
      try {
        member = fromWire(decodePlain(frame.body))
      } catch {}
      if (!member) {
        finish(new CatteryError(codes.FRAME_BAD_HEADER, `${where} answered a PING without a member`))
        return
      }
      if (session && !session.peerId.equals(member.uniqueId))
        throw new CatteryError(codes.AUTH_FAILED, `${where} answered as another member than it proved`)
      finish(undefined, member)
    }
    /** Reads the TCP socket, then the TLS one that continues it after AUTH. */
    const read = (s: net.Socket) => {
      const decoder: FrameDecoder = new FrameDecoder(MAX_ANSWER_BYTES, (frame) => onFrame(frame, decoder))
      s.on('data', (chunk: Buffer) => {
        try {
          decoder.push(chunk)
        } catch (err) {
          const e = err as CatteryError
          if (e.code === codes.AUTH_FAILED) security.count(e.code)
          finish(e)
        }
      })
      s.on('error', (err) => finish(new CatteryError(codes.CONNECT_FAILED, `${where}: ${err.message}`)))
      s.on('close', () => finish(new CatteryError(codes.CONNECTION_LOST, `${where} closed the connection`)))
    }
    raw.on('connect', () => {
      if (handshake)
        for (const b of encodeFrame(FrameKind.AUTH, 0, 1, undefined, handshake.start())) raw.write(b)
      else send()
    })
    read(raw)
  })
}
