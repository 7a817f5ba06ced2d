/**
 * The multicast heartbeat: 'CTRM', version 1, kind (1 alive, 2 shutdown), then the member (msgpack).
 * A packet stays under 1400 bytes so it fits one Ethernet frame.
 */
import { decodePlain, encodePlain } from '../codec.ts'
import { CatteryError, codes } from '../errors.ts'
import { fromWire, type Member, toWire } from '../member.ts'

export const PACKET_MAGIC = 0x4354524d // 'CTRM'
export const PACKET_VERSION = 1
export const MAX_PACKET_BYTES = 1400
export const PacketKind = { ALIVE: 1, SHUTDOWN: 2 } as const
export type PacketKindValue = (typeof PacketKind)[keyof typeof PacketKind]

export function encodePacket(kind: PacketKindValue, member: Member): Buffer {
  const body = encodePlain(toWire(member))
  if (body.length + 6 > MAX_PACKET_BYTES) {
    throw new CatteryError(
      codes.MESSAGE_TOO_LARGE,
      `the member announcement is ${body.length + 6} bytes; multicast heartbeats must stay under ${MAX_PACKET_BYTES} (make the member payload smaller)`,
    )
  }
  const head = Buffer.allocUnsafe(6)
  head.writeUInt32BE(PACKET_MAGIC, 0)
  head[4] = PACKET_VERSION
  head[5] = kind
  return Buffer.concat([head, body])
}

/** Decodes a heartbeat; undefined for anything that is not one of ours (never throws). */
export function decodePacket(bytes: Buffer): { kind: PacketKindValue; member: Member } | undefined {
  if (bytes.length < 7 || bytes.length > MAX_PACKET_BYTES) return undefined
  if (bytes.readUInt32BE(0) !== PACKET_MAGIC || bytes[4] !== PACKET_VERSION) return undefined
  const kind = bytes[5]
  if (kind !== PacketKind.ALIVE && kind !== PacketKind.SHUTDOWN) return undefined
  let member: Member | undefined
  try {
    member = fromWire(decodePlain(bytes.subarray(6)))
  } catch {
    return undefined
  }
  return member ? { kind, member } : undefined
}
