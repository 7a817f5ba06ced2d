/**
 * A stopping BackupManager member's departure (node/session/departure.ts), by itself: what it hands
 * over, and what it passes on of the messages that still reach it.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import pino from 'pino'
import type { ManagerMessage } from '../../../node/session/cluster-manager.ts'
import { Departure } from '../../../node/session/departure.ts'
import { newMessageCounts, SESSION_MESSAGE } from '../../../node/session/messages.ts'
import { PlacementView } from '../../../node/session/placement.ts'
import { writerOf } from '../../../node/session/rank.ts'
import type { Member } from '../../../node/tribes/member.ts'
import { peer, viewChannel } from '../../helpers/managers.ts'

function departing(held: string[]) {
  const a = peer('a')
  const b = peer('b')
  const net = viewChannel([a, b])
  const self = writerOf(net.channel.localMember)
  const view = new PlacementView([self, writerOf(a), writerOf(b)])
  const pushes: Array<{ to: string; keys: string[] }> = []
  const byId = new Map([a, b].map((m) => [writerOf(m), m]))
  const departure = new Departure({
    channel: net.channel,
    contextPath: '/app',
    logger: pino({ level: 'silent' }),
    sent: newMessageCounts(),
    copies: 2,
    self: () => self,
    view: () => view,
    keys: () => held,
    holds: (id) => held.includes(id.split('.')[0] as string),
    member: (id) => byId.get(id),
    push: async (to: Member, keys: Iterable<string>) => {
      pushes.push({ to: to.name, keys: [...keys] })
      return new Set(keys)
    },
  })
  return { departure, net, pushes, self, view }
}

test('a stopping member hands each session it owns to the owner that takes its place, and only those', async () => {
  const keys = Array.from({ length: 60 }, (_, i) => `K${i.toString().padStart(4, '0')}`)
  const d = departing(keys)
  await d.departure.announce()
  await d.departure.handOver()
  const owned = keys.filter((k) => d.view.owners(k, 2).includes(d.self))
  const handed = d.pushes.flatMap((p) => p.keys).sort()
  assert.deepEqual(handed, [...owned].sort(), 'each owned session once, none it does not own')
  const rest = new PlacementView(d.view.members.filter((m) => m !== d.self))
  const names = new Map(d.net.channel.members().map((m) => [m.name, writerOf(m)]))
  for (const p of d.pushes)
    for (const k of p.keys) {
      const to = names.get(p.to) as string
      assert.ok(rest.owners(k, 2).includes(to) && !d.view.owners(k, 2).includes(to), `${k} to its new owner`)
    }
  assert.equal(d.departure.counters.handedOver, owned.length)
})

test('a write that still reaches a departing member goes on to the owners without it, not back to its sender', async () => {
  const d = departing(['K1'])
  await d.departure.announce()
  assert.ok(d.departure.departing)
  const [a] = d.net.channel.members() as [Member]
  const delta = { k: SESSION_MESSAGE, type: 'delta', ctx: '/app', id: 'K1.n1', v: 2, a: 0, actions: [] }
  await d.departure.forward(delta as ManagerMessage, a)
  assert.deepEqual(d.pushes, [{ to: 'b', keys: ['K1'] }])
  const end = { k: SESSION_MESSAGE, type: 'expired', ctx: '/app', id: 'K1.n1' }
  await d.departure.forward(end as ManagerMessage, a)
  const ends = d.net.sent.filter((s) => s.message.type === 'expired')
  assert.deepEqual(
    ends.map((s) => s.to.map((m) => m.name)),
    [['b']],
  )
  assert.equal(d.departure.counters.forwarded, 2)
})
