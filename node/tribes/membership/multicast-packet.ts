/**
 * The multicast heartbeat: 'CTRM', version, kind (1 alive, 2 shutdown), then the member (msgpack).
 * Version 1 is plain. Version 2 is tagged with the cluster secret (security/packet-tag.ts):
 * 'CTRM' | 2 | kind | stamp (8) | member | HMAC-SHA256 tag (32). A packet stays under 1400 bytes so
 * it fits one Ethernet frame. A sender tags with its primary secret's key; during a rotation a
 * receiver accepts a tag made with any secret it holds, so it computes at most MAX_SECRETS (4,
 * security/keys.ts) HMACs per packet (the packet names no key: its format is the same with one
 * secret or several).
 */
import { decodePlain, encodePlain } from '../codec.ts'
import { CatteryError, codes } from '../errors.ts'
import { fromWire, type Member, toWire } from '../member.ts'
import {
  nextStamp,
  PACKET_TAG_BYTES,
  packetTag,
  readStamp,
  STAMP_BYTES,
  tagValid,
  writeStamp,
} from '../security/packet-tag.ts'

const PACKET_MAGIC = 0x4354524d // 'CTRM'
const PACKET_VERSION = 1
const TAGGED_PACKET_VERSION = 2
const MAX_PACKET_BYTES = 1400
export const PacketKind = { ALIVE: 1, SHUTDOWN: 2 } as const
export type PacketKindValue = (typeof PacketKind)[keyof typeof PacketKind]

export interface Packet {
  kind: PacketKindValue
  member: Member
  /** Tagged packets: the sender's stamp (checked against replays by the caller). */
  stamp?: number
}

/** Encodes a heartbeat; with `key` (the multicast key of the cluster secret) it is stamped and tagged. */
export function encodePacket(kind: PacketKindValue, member: Member, key?: Buffer): Buffer {
  const body = encodePlain(toWire(member))
  const headBytes = key ? 6 + STAMP_BYTES : 6
  const size = headBytes + body.length + (key ? PACKET_TAG_BYTES : 0)
  if (size > MAX_PACKET_BYTES) {
    throw new CatteryError(
      codes.MESSAGE_TOO_LARGE,
      `the member announcement is ${size} bytes; multicast heartbeats must stay under ${MAX_PACKET_BYTES} (make the member payload smaller)`,
    )
  }
  const head = Buffer.allocUnsafe(headBytes)
  head.writeUInt32BE(PACKET_MAGIC, 0)
  head[4] = key ? TAGGED_PACKET_VERSION : PACKET_VERSION
  head[5] = kind
  if (!key) return Buffer.concat([head, body])
  writeStamp(head, 6, nextStamp())
  const packet = Buffer.concat([head, body])
  return Buffer.concat([packet, packetTag(key, packet)])
}

/**
 * Decodes a heartbeat (never throws). Without `keys`: a plain packet, or undefined. With `keys` (the
 * multicast keys of the secrets held, one or up to MAX_SECRETS): a tagged packet whose tag one of them
 * made, else a refusal code (PACKET_UNAUTHENTICATED for a plain packet or a wrong tag); undefined for
 * anything that is not a Cattery heartbeat at all.
 */
export function decodePacket(bytes: Buffer, keys?: Buffer | readonly Buffer[]): Packet | string | undefined {
  if (bytes.length < 7 || bytes.length > MAX_PACKET_BYTES) return undefined
  if (bytes.readUInt32BE(0) !== PACKET_MAGIC) return undefined
  const version = bytes[4]
  if (version !== PACKET_VERSION && version !== TAGGED_PACKET_VERSION) return undefined
  const kind = bytes[5]
  if (kind !== PacketKind.ALIVE && kind !== PacketKind.SHUTDOWN) return undefined
  let body = bytes.subarray(6)
  let stamp: number | undefined
  if (keys) {
    const list = Buffer.isBuffer(keys) ? [keys] : keys
    if (version !== TAGGED_PACKET_VERSION || !list.some((k) => tagValid(k, bytes)))
      return codes.PACKET_UNAUTHENTICATED
    if (bytes.length < 6 + STAMP_BYTES + PACKET_TAG_BYTES + 1) return codes.PACKET_UNAUTHENTICATED
    stamp = readStamp(bytes, 6)
    body = bytes.subarray(6 + STAMP_BYTES, bytes.length - PACKET_TAG_BYTES)
  } else if (version !== PACKET_VERSION) return undefined
  let member: Member | undefined
  try {
    member = fromWire(decodePlain(body))
  } catch {
    return undefined
  }
  if (!member) return undefined
  return stamp === undefined ? { kind, member } : { kind, member, stamp }
}
