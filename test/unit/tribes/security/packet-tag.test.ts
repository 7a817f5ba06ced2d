import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { codes } from '../../../../node/tribes/errors.ts'
import { createLocalMember, memberId } from '../../../../node/tribes/member.ts'
import {
  decodePacket,
  encodePacket,
  type Packet,
  PacketKind,
} from '../../../../node/tribes/membership/multicast-packet.ts'
import { clusterKeys } from '../../../../node/tribes/security/keys.ts'
import { REPLAY_WINDOW_MS, ReplayGuard } from '../../../../node/tribes/security/packet-tag.ts'

const key = clusterKeys('a-cluster-secret-of-at-least-32-characters').multicast
const wrong = clusterKeys('another-secret-of-at-least-32-characters!!').multicast
const member = createLocalMember({ host: '10.0.0.1', port: 4000, name: 'n1' })

describe('the multicast packet tag', () => {
  it('round-trips a tagged packet with its stamp', () => {
    const p = decodePacket(encodePacket(PacketKind.ALIVE, member, key), key) as Packet
    assert.equal(p.kind, PacketKind.ALIVE)
    assert.equal(memberId(p.member), memberId(member))
    assert.ok(Math.abs((p.stamp ?? 0) / 1024 - Date.now()) < 1000)
  })

  it('refuses a plain packet, a wrong key and an altered packet when the cluster has a secret', () => {
    assert.equal(decodePacket(encodePacket(PacketKind.ALIVE, member), key), codes.PACKET_UNAUTHENTICATED)
    assert.equal(
      decodePacket(encodePacket(PacketKind.ALIVE, member, wrong), key),
      codes.PACKET_UNAUTHENTICATED,
    )
    const altered = encodePacket(PacketKind.ALIVE, member, key)
    altered[5] = PacketKind.SHUTDOWN
    assert.equal(decodePacket(altered, key), codes.PACKET_UNAUTHENTICATED)
  })

  it('accepts a tag made with any secret of a key ring (a rotation), and refuses one made with none', () => {
    const third = clusterKeys('a-third-secret-of-at-least-32-characters!!').multicast
    const ring = [wrong, key]
    for (const sender of ring)
      assert.equal((decodePacket(encodePacket(PacketKind.ALIVE, member, sender), ring) as Packet).kind, 1)
    assert.equal(
      decodePacket(encodePacket(PacketKind.ALIVE, member, third), ring),
      codes.PACKET_UNAUTHENTICATED,
    )
  })

  it('is ignored by a node without a secret (another cluster)', () => {
    assert.equal(decodePacket(encodePacket(PacketKind.ALIVE, member, key)), undefined)
  })

  it('refuses a replayed or stale stamp, and a later one passes', () => {
    const g = new ReplayGuard()
    const now = Date.now()
    const stamp = now * 1024 + 1
    assert.equal(g.check('m', stamp, now), 'ok')
    assert.equal(g.check('m', stamp, now), 'replayed')
    assert.equal(g.check('m', stamp - 1, now), 'replayed')
    assert.equal(g.check('m', stamp + 1, now), 'ok')
    assert.equal(g.check('x', (now - REPLAY_WINDOW_MS - 1) * 1024, now), 'stale')
    assert.equal(g.check('y', (now + REPLAY_WINDOW_MS + 1) * 1024, now), 'stale')
    g.sweep(now + 2 * REPLAY_WINDOW_MS)
    assert.equal(g.size, 0)
  })

  it('stamps grow from packet to packet of one sender', () => {
    const a = decodePacket(encodePacket(PacketKind.ALIVE, member, key), key) as Packet
    const b = decodePacket(encodePacket(PacketKind.ALIVE, member, key), key) as Packet
    assert.ok((b.stamp ?? 0) > (a.stamp ?? 0))
  })
})
