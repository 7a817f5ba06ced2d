/**
 * Run inside a test network namespace: joins the multicast group and waits for one heartbeat of the
 * real member named argv[4]. From it, an attacker without the cluster secret copies that member's
 * identity (uniqueId, address, name: the member record is readable, only tagged) and sends:
 *   - the heartbeat again, unchanged (a replay);
 *   - the heartbeat with its kind turned into SHUTDOWN, its tag kept (an altered packet);
 *   - a SHUTDOWN for that member, plain and tagged with a wrong key (the eviction attack);
 *   - a heartbeat for that member saying it is not ready, plain; one for its address with a new
 *     uniqueId (a "restart" that would replace it), tagged with a wrong key;
 *   - a plain heartbeat of a made-up member, and a heartbeat and a SHUTDOWN of another one tagged with
 *     a wrong key.
 * Prints one JSON line when done: how many packets of each kind a member with the secret must refuse.
 *   node multicast-spoof.ts <group> <port> <interface address> <name of the member to impersonate>
 */
import { randomBytes } from 'node:crypto'
import dgram from 'node:dgram'
import { decodePlain } from '../../node/tribes/codec.ts'
import { createLocalMember, fromWire, type Member } from '../../node/tribes/member.ts'
import { encodePacket, PacketKind } from '../../node/tribes/membership/multicast-packet.ts'
import { clusterKeys } from '../../node/tribes/security/keys.ts'
import { PACKET_TAG_BYTES, STAMP_BYTES } from '../../node/tribes/security/packet-tag.ts'

const [group, portText, iface, victim] = process.argv.slice(2) as [string, string, string, string]
const port = Number(portText)
const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true })
socket.bind(port, () => {
  socket.addMembership(group, iface)
  socket.setMulticastInterface(iface)
})
const send = (b: Buffer) => new Promise((r) => socket.send(b, port, group, r))

/** The member record of a tagged heartbeat ('CTRM' | 2 | kind | stamp | member | tag), if it is one. */
function memberOf(data: Buffer): Member | undefined {
  if (data.length < 6 + STAMP_BYTES + PACKET_TAG_BYTES || data[4] !== 2) return undefined
  try {
    return fromWire(decodePlain(data.subarray(6 + STAMP_BYTES, data.length - PACKET_TAG_BYTES)))
  } catch {
    return undefined
  }
}

const onMessage = async (data: Buffer) => {
  const real = memberOf(data)
  if (real?.name !== victim || data[5] !== PacketKind.ALIVE) return
  socket.off('message', onMessage)
  await new Promise((r) => setTimeout(r, 50))
  const wrong = clusterKeys(randomBytes(32).toString('base64')).multicast
  const altered = Buffer.from(data)
  altered[5] = PacketKind.SHUTDOWN
  const fake = createLocalMember({ host: iface, port: 4000, name: 'spoof-plain' })
  const fake2 = createLocalMember({ host: iface, port: 4001, name: 'spoof-wrong-key' })
  const unauthenticated = [
    altered,
    encodePacket(PacketKind.SHUTDOWN, real),
    encodePacket(PacketKind.SHUTDOWN, real, wrong),
    encodePacket(PacketKind.ALIVE, { ...real, ready: false }),
    encodePacket(PacketKind.ALIVE, { ...real, uniqueId: randomBytes(16) }, wrong),
    encodePacket(PacketKind.ALIVE, fake),
    encodePacket(PacketKind.ALIVE, fake2, wrong),
    encodePacket(PacketKind.SHUTDOWN, fake2, wrong),
  ]
  await send(data) // replayed
  for (const p of unauthenticated) await send(p)
  console.log(JSON.stringify({ unauthenticated: unauthenticated.length, replayed: 1 }))
  socket.close()
}
socket.on('message', onMessage)
