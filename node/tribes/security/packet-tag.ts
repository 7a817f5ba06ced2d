/**
 * The tag of a multicast heartbeat or SHUTDOWN packet when the channel has a cluster secret: a stamp
 * (8 bytes: ms since the epoch x 1024 + a counter, so a sender's stamps only grow) is written by the
 * packet's encoder after its head, and HMAC-SHA256 with the multicast key over the whole packet
 * follows it (32 bytes). A receiver drops a packet whose tag is wrong, whose stamp is more than
 * REPLAY_WINDOW_MS away from its own clock, or whose stamp is not above the last one it accepted
 * from the same member (ReplayGuard): a packet recorded on the wire is worthless to replay. Members'
 * clocks must agree within the window (NTP).
 */
import { createHmac, timingSafeEqual } from 'node:crypto'

export const PACKET_TAG_BYTES = 32
export const STAMP_BYTES = 8
export const REPLAY_WINDOW_MS = 30_000

let counter = 0
/** A new stamp: grows with every call in this process (up to 1024 a millisecond). */
export function nextStamp(now = Date.now()): number {
  counter = (counter + 1) % 1024
  return now * 1024 + counter
}

export function writeStamp(buf: Buffer, offset: number, stamp: number): void {
  buf.writeUInt32BE(Math.floor(stamp / 0x100000000), offset)
  buf.writeUInt32BE(stamp >>> 0, offset + 4)
}

export const readStamp = (buf: Buffer, offset: number): number =>
  buf.readUInt32BE(offset) * 0x100000000 + buf.readUInt32BE(offset + 4)

/** `packet` without its tag -> the tag to append. */
export const packetTag = (key: Buffer, packet: Buffer): Buffer =>
  createHmac('sha256', key).update(packet).digest()

/** Whether the last PACKET_TAG_BYTES of `packet` are the tag of the rest. */
export function tagValid(key: Buffer, packet: Buffer): boolean {
  if (packet.length <= PACKET_TAG_BYTES) return false
  const cut = packet.length - PACKET_TAG_BYTES
  return timingSafeEqual(packetTag(key, packet.subarray(0, cut)), packet.subarray(cut))
}

/**
 * Remembers the last stamp accepted from each member for as long as such a stamp could still pass
 * the window check (bounded: entries older than the window are swept).
 */
export class ReplayGuard {
  readonly #last = new Map<string, number>()

  /** 'ok', 'stale' (outside the window) or 'replayed' (not above the last one from this member). */
  check(memberKey: string, stamp: number, now = Date.now()): 'ok' | 'stale' | 'replayed' {
    const ms = stamp / 1024
    if (Math.abs(now - ms) > REPLAY_WINDOW_MS) return 'stale'
    const last = this.#last.get(memberKey)
    if (last !== undefined && stamp <= last) return 'replayed'
    this.#last.set(memberKey, stamp)
    return 'ok'
  }

  sweep(now = Date.now()): void {
    const oldest = (now - REPLAY_WINDOW_MS) * 1024
    for (const [k, s] of this.#last) if (s < oldest) this.#last.delete(k)
  }

  get size(): number {
    return this.#last.size
  }
}
