/**
 * The BackupManager's cached placement view (node/session/placement-cache.ts), by itself: which
 * members it is made of, when it is rebuilt, and that its answers are placement.ts's.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PlacementView } from '../../../node/session/placement.ts'
import { PlacementCache } from '../../../node/session/placement-cache.ts'
import { writerOf } from '../../../node/session/rank.ts'
import type { Member } from '../../../node/tribes/member.ts'
import { peer } from '../../helpers/managers.ts'

function cache(peers: Member[]) {
  const channel = { viewVersion: 1, members: () => members, reads: 0 }
  let members = peers
  const list = channel.members
  channel.members = () => {
    channel.reads++
    return list()
  }
  const mapped = new Set(peers.map((m) => writerOf(m)))
  const map = { version: 1, has: (id: string) => mapped.has(id) }
  let self = 'self0000'
  const placement = new PlacementCache({ channel, map, copies: 2, self: () => self })
  return {
    placement,
    channel,
    map,
    mapped,
    setSelf: (id: string) => {
      self = id
    },
    setMembers: (list: Member[]) => {
      members = list
      channel.viewVersion++
    },
  }
}

const keys = Array.from({ length: 40 }, (_, i) => `K${i.toString().padStart(4, '0')}`)

test('the view is the map members that are not stopping, and this member', () => {
  const [a, b, c] = [peer('a'), peer('b'), peer('c')]
  const t = cache([a, b, c])
  t.mapped.delete(writerOf(c))
  t.map.version++
  assert.deepEqual(t.placement.view().members, [...[a, b].map((m) => writerOf(m)), 'self0000'].sort())
  assert.equal(t.placement.member(writerOf(c)), undefined, 'not in the map')
  assert.equal(t.placement.member(writerOf(a)), a)
  assert.ok(t.placement.setLeaving(writerOf(a), true))
  assert.ok(!t.placement.setLeaving(writerOf(a), true), 'no change')
  assert.ok(t.placement.isLeaving(writerOf(a)))
  assert.ok(!t.placement.view().has(writerOf(a)), 'a stopping member is out of placement')
  assert.ok(t.placement.setLeaving(writerOf(a), false))
  assert.ok(t.placement.view().has(writerOf(a)), 'and back in once it no longer stops')
})

test('the view is rebuilt only when the channel view, the map, the stopping members or this member changed', () => {
  const [a, b] = [peer('a'), peer('b')]
  const t = cache([a, b])
  const first = t.placement.view()
  for (const k of keys) t.placement.owners(k)
  t.placement.member(writerOf(a))
  assert.equal(t.placement.view(), first)
  assert.equal(t.channel.reads, 1, 'one read of the channel for every question')
  const changes = [
    () => t.setMembers([a]),
    () => t.map.version++,
    () => t.placement.setLeaving(writerOf(a), true),
    () => t.setSelf('self0001'),
  ]
  let last = first
  for (const change of changes) {
    change()
    const next = t.placement.view()
    assert.notEqual(next, last)
    assert.equal(t.placement.view(), next)
    last = next
  }
  assert.equal(t.channel.reads, 1 + changes.length)
})

test('owners, other owners and roles are those of placement.ts over the view', () => {
  const peers = ['a', 'b', 'c', 'd'].map((n) => peer(n))
  const t = cache(peers)
  const view = new PlacementView([...peers.map((m) => writerOf(m)), 'self0000'])
  const byId = new Map(peers.map((m) => [writerOf(m), m]))
  for (const k of keys) {
    const owners = view.owners(k, 2)
    assert.deepEqual(t.placement.owners(k), owners)
    assert.deepEqual(t.placement.owners(k), owners, 'remembered for the last session')
    assert.equal(t.placement.owns(k), owners.includes('self0000'))
    const others = owners.filter((id) => id !== 'self0000').map((id) => byId.get(id))
    assert.deepEqual(t.placement.otherOwners(k), others)
    const i = owners.indexOf('self0000')
    assert.equal(t.placement.roleIn(view, k), i === 0 ? 'primary' : i === 1 ? 'backup' : 'proxy')
  }
})

test('a stopping member that left the channel view is forgotten', () => {
  const [a, b] = [peer('a'), peer('b')]
  const t = cache([a, b])
  t.placement.setLeaving(writerOf(a), true)
  t.placement.setLeaving(writerOf(b), true)
  t.setMembers([b])
  t.placement.forgetGone()
  assert.ok(!t.placement.isLeaving(writerOf(a)))
  assert.ok(t.placement.isLeaving(writerOf(b)), 'still in the view: still stopping')
})
