/**
 * Run inside a test network namespace: joins the multicast group, records one heartbeat of the member
 * named argv[4], then sends it again (a replay), a plain heartbeat of a made-up member, and one tagged
 * with a wrong key. Prints 'sent' when done.
 *   node multicast-spoof.ts <group> <port> <interface address> <member to replay>
 */
import { randomBytes } from 'node:crypto'
import dgram from 'node:dgram'
import { createLocalMember } from '../../node/tribes/member.ts'
import { encodePacket, PacketKind } from '../../node/tribes/membership/multicast-packet.ts'
import { clusterKeys } from '../../node/tribes/security/keys.ts'

const [group, portText, iface, victim] = process.argv.slice(2) as [string, string, string, string]
const port = Number(portText)
const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true })
socket.bind(port, () => {
  socket.addMembership(group, iface)
  socket.setMulticastInterface(iface)
})
const send = (b: Buffer) => new Promise((r) => socket.send(b, port, group, r))
socket.on('message', async (data) => {
  if (!data.includes(Buffer.from(victim))) return
  socket.removeAllListeners('message')
  await new Promise((r) => setTimeout(r, 50))
  await send(data) // replayed
  const fake = createLocalMember({ host: iface, port: 4000, name: 'spoof-plain' })
  await send(encodePacket(PacketKind.ALIVE, fake))
  const wrong = clusterKeys(randomBytes(32).toString('base64')).multicast
  const fake2 = createLocalMember({ host: iface, port: 4001, name: 'spoof-wrong-key' })
  await send(encodePacket(PacketKind.ALIVE, fake2, wrong))
  await send(encodePacket(PacketKind.SHUTDOWN, fake2, wrong))
  console.log('sent')
  socket.close()
})
