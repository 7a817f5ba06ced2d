/**
 * A liveness check over a fresh TCP connection: PING (carrying our member, or BYE to say goodbye),
 * then wait for the PONG that names the member answering. A process that is stopped or hung accepts
 * the TCP connection in the kernel but never answers, so it fails the probe (Tribes' plain connect
 * test would call it alive).
 */
import net from 'node:net'
import { decodePlain } from '../codec.ts'
import { CatteryError, codes } from '../errors.ts'
import { fromWire, type Member } from '../member.ts'
import { encodeFrame, FrameDecoder, FrameKind } from './frame.ts'

export function probe(
  address: { host: string; port: number },
  timeout: number,
  self: Buffer,
): Promise<Member> {
  return exchange(address, timeout, FrameKind.PING, self, true) as Promise<Member>
}

/** Tells a member we are leaving; resolves once it acknowledged (or failed, or timed out). */
export function sayGoodbye(
  address: { host: string; port: number },
  timeout: number,
  self: Buffer,
): Promise<void> {
  return exchange(address, timeout, FrameKind.BYE, self, true).then(
    () => undefined,
    () => undefined,
  )
}

function exchange(
  address: { host: string; port: number },
  timeout: number,
  kind: typeof FrameKind.PING | typeof FrameKind.BYE,
  body: Buffer,
  awaitPong: boolean,
): Promise<Member | undefined> {
  const where = `${address.host}:${address.port}`
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: address.host, port: address.port, noDelay: true })
    let settled = false
    const finish = (err: CatteryError | undefined, member?: Member) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      if (err) reject(err)
      else resolve(member)
    }
    const timer = setTimeout(
      () => finish(new CatteryError(codes.CONNECT_FAILED, `no answer from ${where} within ${timeout} ms`)),
      timeout,
    )
    const decoder = new FrameDecoder(64 * 1024, (frame) => {
      if (frame.kind !== FrameKind.PONG) return
      let member: Member | undefined
      try {
        member = fromWire(decodePlain(frame.body))
      } catch {}
      if (member) finish(undefined, member)
      else finish(new CatteryError(codes.FRAME_BAD_HEADER, `${where} answered a PING without a member`))
    })
    socket.on('connect', () => {
      for (const b of encodeFrame(kind, 0, 1, undefined, body)) socket.write(b)
      if (!awaitPong) socket.end(() => finish(undefined))
    })
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk)
      } catch (err) {
        finish(err as CatteryError)
      }
    })
    socket.on('error', (err) => finish(new CatteryError(codes.CONNECT_FAILED, `${where}: ${err.message}`)))
    socket.on('close', () =>
      finish(new CatteryError(codes.CONNECTION_LOST, `${where} closed the connection`)),
    )
  })
}
