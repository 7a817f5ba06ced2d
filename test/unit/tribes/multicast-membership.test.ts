/**
 * McastService's membership list (node/tribes/membership/multicast.ts) fed real UDP packets on
 * loopback: a member of a cluster with a secret keeps a real member listed whatever is forged in its
 * name without the key, and holds at most 1,000 members (docs/limits.md), counting the refused ones.
 */
import assert from 'node:assert/strict'
import { randomBytes, randomInt } from 'node:crypto'
import dgram from 'node:dgram'
import { after, before, describe, it } from 'node:test'
import pino from 'pino'
import { codes } from '../../../node/tribes/errors.ts'
import { createLocalMember, type Member, memberId } from '../../../node/tribes/member.ts'
import { MulticastMembership } from '../../../node/tribes/membership/multicast.ts'
import { encodePacket, PacketKind } from '../../../node/tribes/membership/multicast-packet.ts'
import { ChannelSecurity } from '../../../node/tribes/security/channel-security.ts'
import { clusterKeys, keyRing } from '../../../node/tribes/security/keys.ts'

const SECRET = randomBytes(32).toString('base64')
const key = clusterKeys(SECRET).multicast
const wrong = clusterKeys(randomBytes(32).toString('base64')).multicast
/** The documented bound (docs/limits.md: "multicast members: 1,000 known at once"). */
const MEMBERS_LIMIT = 1000

async function until(what: string, fn: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** A started member listening on loopback (its own group and port), and a socket that writes to it. */
async function listener() {
  const port = randomInt(40_000, 60_000)
  const security = new ChannelSecurity('secret', keyRing(SECRET))
  const membership = new MulticastMembership(
    {
      type: 'multicast',
      address: `239.${randomInt(1, 255)}.${randomInt(1, 255)}.${randomInt(1, 255)}`,
      port,
      frequency: 60_000, // no timeouts or sweeps during the test: only what is sent decides
      dropTime: 600_000,
      ttl: 0,
      bind: '127.0.0.1',
    },
    pino({ level: 'silent' }),
    security,
  )
  const gone: Array<{ member: Member; reason: string }> = []
  membership.on('memberDisappeared', (member: Member, reason: string) => gone.push({ member, reason }))
  await membership.start(createLocalMember({ host: '127.0.0.1', port: 4000, name: 'local' }))
  const socket = dgram.createSocket('udp4')
  const send = (packet: Buffer) =>
    new Promise<void>((resolve, reject) =>
      socket.send(packet, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())),
    )
  const names = () => membership.members().map((m) => m.name)
  const refused = (code: string) => security.refused[code] ?? 0
  const stop = async () => {
    socket.close()
    await membership.stop()
  }
  return { membership, send, names, refused, gone, stop }
}

describe('multicast membership with a cluster secret', () => {
  describe('a real member under forged packets', () => {
    let l: Awaited<ReturnType<typeof listener>>
    const real = createLocalMember({ host: '10.0.0.2', port: 4000, name: 'real' })
    before(async () => {
      l = await listener()
      await l.send(encodePacket(PacketKind.ALIVE, real, key))
      await until('the real member to be listed', () => l.names().includes('real'))
    })
    after(() => l.stop())

    it('refuses and counts a SHUTDOWN and a heartbeat in its name without the key or with a wrong one, and keeps it', async () => {
      // The attacker copied the real member's identity (uniqueId, address, name) from its heartbeat.
      const forged = [
        encodePacket(PacketKind.SHUTDOWN, real),
        encodePacket(PacketKind.SHUTDOWN, real, wrong),
        encodePacket(PacketKind.ALIVE, { ...real, ready: false }, wrong),
        // Its address with a new uniqueId: a "restart" that would replace it.
        encodePacket(PacketKind.ALIVE, { ...real, uniqueId: randomBytes(16) }, wrong),
      ]
      for (const p of forged) await l.send(p)
      await until(
        'every forged packet counted',
        () => l.refused(codes.PACKET_UNAUTHENTICATED) === forged.length,
      )
      assert.deepEqual(l.names(), ['real'])
      assert.equal(memberId(l.membership.members()[0] as Member), memberId(real))
      assert.deepEqual(l.gone, [])
    })

    it('refuses and counts a replay of its heartbeat, and keeps it', async () => {
      const heartbeat = encodePacket(PacketKind.ALIVE, real, key)
      await l.send(heartbeat)
      await l.send(heartbeat)
      await until('the replay counted', () => l.refused(codes.PACKET_REPLAY) === 1)
      assert.deepEqual(l.names(), ['real'])
      assert.deepEqual(l.gone, [])
    })

    it('drops it at once on its own SHUTDOWN, tagged with the key', async () => {
      await l.send(encodePacket(PacketKind.SHUTDOWN, real, key))
      await until('the member gone', () => l.names().length === 0)
      assert.deepEqual(
        l.gone.map((g) => [g.member.name, g.reason]),
        [['real', 'shutdown']],
      )
    })
  })

  describe(`the bound: ${MEMBERS_LIMIT} members known at once`, () => {
    let l: Awaited<ReturnType<typeof listener>>
    const members = Array.from({ length: MEMBERS_LIMIT + 1 }, (_, i) =>
      createLocalMember({ host: '10.1.0.1', port: 10_000 + i, name: `m${i}` }),
    )
    const extra = members[MEMBERS_LIMIT] as Member
    before(async () => {
      l = await listener()
      // In batches, each heard before the next leaves: loopback UDP drops what overflows the buffer.
      for (let i = 0; i < MEMBERS_LIMIT; i += 50) {
        for (const m of members.slice(i, i + 50)) await l.send(encodePacket(PacketKind.ALIVE, m, key))
        const want = Math.min(i + 50, MEMBERS_LIMIT)
        await until(`${want} members listed`, () => l.names().length === want)
      }
    })
    after(() => l.stop())

    it('drops and counts the heartbeat of one member more, and lists it not', async () => {
      await l.send(encodePacket(PacketKind.ALIVE, extra, key))
      await until('the refusal counted', () => l.refused(codes.MEMBERS_LIMIT) === 1)
      assert.equal(l.names().length, MEMBERS_LIMIT)
      assert.ok(!l.names().includes(extra.name))
      assert.equal(l.refused(codes.PACKET_UNAUTHENTICATED), 0)
    })

    it('still hears the members it knows: their heartbeats keep them alive', async () => {
      const first = members[0] as Member
      const before = l.membership.lastHeard(first)?.at ?? 0
      await new Promise((r) => setTimeout(r, 5))
      await l.send(encodePacket(PacketKind.ALIVE, first, key))
      await until('the heartbeat heard', () => (l.membership.lastHeard(first)?.at ?? 0) > before)
      assert.equal(l.refused(codes.MEMBERS_LIMIT), 1)
      assert.equal(l.names().length, MEMBERS_LIMIT)
    })

    it('lets a known member that restarted (same address, new identity) take its old place in the full list', async () => {
      const old = members[2] as Member
      const restarted = createLocalMember({ host: old.host, port: old.port, name: 'm2-restarted' })
      await l.send(encodePacket(PacketKind.ALIVE, restarted, key))
      await until('the restarted member listed', () => l.names().includes('m2-restarted'))
      assert.ok(!l.names().includes(old.name))
      assert.equal(l.names().length, MEMBERS_LIMIT)
      assert.equal(l.refused(codes.MEMBERS_LIMIT), 1)
      assert.ok(l.gone.some((g) => g.member.name === old.name && g.reason === 'restarted'))
    })

    it('lists the member one more once a known member has left', async () => {
      await l.send(encodePacket(PacketKind.SHUTDOWN, members[1] as Member, key))
      await until('the member gone', () => l.names().length === MEMBERS_LIMIT - 1)
      await l.send(encodePacket(PacketKind.ALIVE, extra, key))
      await until('the member one more listed', () => l.names().includes(extra.name))
      assert.equal(l.names().length, MEMBERS_LIMIT)
      assert.equal(l.refused(codes.MEMBERS_LIMIT), 1)
    })
  })
})
