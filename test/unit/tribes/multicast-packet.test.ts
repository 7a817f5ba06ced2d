import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { codes } from '../../../node/tribes/errors.ts'
import { createLocalMember, memberId } from '../../../node/tribes/member.ts'
import {
  decodePacket,
  encodePacket,
  type Packet,
  PacketKind,
} from '../../../node/tribes/membership/multicast-packet.ts'

describe('multicast heartbeat packet', () => {
  const member = createLocalMember({ host: '10.0.0.1', port: 4000, name: 'n1', domain: 'd' })

  it('round-trips a member and the kind', () => {
    const p = decodePacket(encodePacket(PacketKind.SHUTDOWN, member)) as Packet | undefined
    assert.equal(p?.kind, PacketKind.SHUTDOWN)
    assert.equal(memberId(p?.member ?? member), memberId(member))
    assert.deepEqual(
      [p?.member.name, p?.member.host, p?.member.port, p?.member.domain],
      ['n1', '10.0.0.1', 4000, 'd'],
    )
  })

  it('ignores garbage, other versions, cut packets and other kinds without throwing', () => {
    const good = encodePacket(PacketKind.ALIVE, member)
    const wrongVersion = Buffer.from(good)
    wrongVersion[4] = 2
    const wrongKind = Buffer.from(good)
    wrongKind[5] = 9
    for (const bad of [randomBytes(200), wrongVersion, wrongKind, good.subarray(0, 20), Buffer.alloc(0)]) {
      assert.equal(decodePacket(bad), undefined)
    }
  })

  it('refuses to announce a member too large for one packet', () => {
    const fat = createLocalMember({ host: 'h', port: 1, name: 'n', payload: new Uint8Array(2000) })
    assert.throws(() => encodePacket(PacketKind.ALIVE, fat), { code: codes.MESSAGE_TOO_LARGE })
  })
})
