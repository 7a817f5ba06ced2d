import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  ratesBetween,
  type SnapshotInput,
  Snapshots,
  snapshotOf,
  type TrafficSample,
} from '../../../node/server/dashboard/snapshot.ts'
import type { NodeStatus } from '../../../node/server/status.ts'
import type { MemberDetails } from '../../../node/tribes/channel-types.ts'
import type { Member } from '../../../node/tribes/member.ts'

const member = (name: string, port: number, ready = true): Member => ({
  host: '10.0.0.1',
  port,
  uniqueId: new Uint8Array(16).fill(port % 256),
  name,
  domain: 'blue',
  payload: new Uint8Array(0),
  startTime: 1,
  ready,
})

const details = (m: Member, extra: Partial<MemberDetails> = {}): MemberDetails => ({
  member: m,
  since: 1_000,
  lastHeard: { at: 9_500, via: 'ping' },
  queued: 0,
  queuedBytes: 0,
  ...extra,
})

function status(over: Partial<NodeStatus> = {}, counters: Partial<NodeStatus['channel']> = {}): NodeStatus {
  return {
    name: 'n1',
    ready: true,
    members: [],
    contexts: [],
    refusedApplications: [],
    channel: {
      messagesSent: 0,
      messagesReceived: 0,
      bytesSent: 0,
      bytesReceived: 0,
      sendFailures: 0,
      framesRefused: {},
      security: 'none (loopback)',
      interceptors: {},
      ...counters,
    },
    memory: { rss: 100, heapUsed: 40, heapTotal: 60, external: 5, arrayBuffers: 1 },
    ...over,
  }
}

const input = (over: Partial<SnapshotInput> = {}): SnapshotInput => ({
  now: 10_000,
  status: status(),
  local: { name: 'n1', host: '10.0.0.1', port: 4000, domain: 'blue', startTime: 500 },
  members: [],
  events: [],
  ...over,
})

const context = (path: string, stats: Partial<NodeStatus['contexts'][number]['stats']> = {}, extra = {}) => ({
  name: path.slice(1),
  path,
  source: undefined,
  version: undefined,
  manager: 'delta' as const,
  sessions: 3,
  ready: true,
  stats: { active: 3, created: 3, expired: 0, rejected: 0, maxActive: 3, ...stats },
  valve: undefined,
  ...extra,
})

describe('dashboard snapshot', () => {
  it('lists this node first, then the members it sees by name, each with its state, since and last heard', () => {
    const s = snapshotOf(
      input({
        members: [
          details(member('n3', 4002, false), { queued: 2, queuedBytes: 300 }),
          details(member('n2', 4001)),
        ],
      }),
      undefined,
    )
    assert.deepEqual(
      s.members.map((m) => [m.name, m.local, m.ready, m.address]),
      [
        ['n1', true, true, '10.0.0.1:4000'],
        ['n2', false, true, '10.0.0.1:4001'],
        ['n3', false, false, '10.0.0.1:4002'],
      ],
    )
    assert.deepEqual(s.members[1]?.lastHeard, { at: 9_500, via: 'ping' })
    assert.equal(s.members[0]?.lastHeard, null)
    assert.equal(s.members[0]?.since, 500)
    assert.equal(s.members[2]?.domain, 'blue')
    assert.equal(s.traffic.queued, 2)
    assert.equal(s.traffic.queuedBytes, 300)
  })

  it('shows no member rows for itself before its channel started', () => {
    assert.deepEqual(snapshotOf(input({ local: undefined }), undefined).members, [])
  })

  it('shows each context with its sessions, and roles only when its manager reports them', () => {
    const s = snapshotOf(
      input({
        status: status({
          contexts: [context('/demo'), context('/shop', { primary: 1, backup: 1, proxy: 1 })],
        }),
      }),
      undefined,
    )
    assert.deepEqual(
      s.contexts.map((c) => [c.path, c.sessions, c.roles]),
      [
        ['/demo', 3, {}],
        ['/shop', 3, { primary: 1, backup: 1, proxy: 1 }],
      ],
    )
  })

  it('lists only the state transfers in progress, with their progress', () => {
    const s = snapshotOf(
      input({
        status: status({
          contexts: [
            context('/done', {
              stateTransfer: { state: 'done', received: 10, skipped: 0, attempts: 1, since: 1 },
            }),
            context('/busy', {
              stateTransfer: {
                state: 'receiving',
                donor: 'n2',
                received: 400,
                expected: 1000,
                skipped: 0,
                attempts: 1,
                since: 9_000,
              },
            }),
          ],
        }),
      }),
      undefined,
    )
    assert.deepEqual(s.transfers, [
      {
        context: '/busy',
        state: 'receiving',
        donor: 'n2',
        received: 400,
        expected: 1000,
        since: 9_000,
        reason: null,
      },
    ])
  })

  it('computes traffic rates per second from the previous sample', () => {
    const previous: TrafficSample = {
      at: 8_000,
      messagesSent: 100,
      messagesReceived: 50,
      bytesSent: 10_000,
      bytesReceived: 4_000,
      sendFailures: 1,
    }
    const s = snapshotOf(
      input({
        status: status(
          {},
          {
            messagesSent: 300,
            messagesReceived: 50,
            bytesSent: 30_000,
            bytesReceived: 6_000,
            sendFailures: 3,
          },
        ),
      }),
      previous,
    )
    assert.equal(s.traffic.messagesOutPerSecond, 100)
    assert.equal(s.traffic.messagesInPerSecond, 0)
    assert.equal(s.traffic.bytesOutPerSecond, 10_000)
    assert.equal(s.traffic.bytesInPerSecond, 1_000)
    assert.equal(s.traffic.failuresPerSecond, 1)
    assert.equal(s.traffic.sendFailures, 3)
  })

  it('gives zero rates without a previous sample, and never a negative one', () => {
    const now = {
      at: 2_000,
      messagesSent: 5,
      messagesReceived: 5,
      bytesSent: 5,
      bytesReceived: 5,
      sendFailures: 0,
    }
    assert.equal(ratesBetween(undefined, now).messagesOutPerSecond, 0)
    const later = { ...now, at: 1_000, messagesSent: 10 }
    assert.equal(ratesBetween(later, now).messagesOutPerSecond, 0)
    assert.equal(ratesBetween({ ...now, at: 2_000 }, now).bytesInPerSecond, 0)
  })

  it("keeps the previous sample between snapshots, so the second one's rates are since the first", () => {
    let now = 1_000
    let sent = 0
    const snapshots = new Snapshots(() => input({ now, status: status({}, { messagesSent: sent }) }))
    assert.equal(snapshots.next().traffic.messagesOutPerSecond, 0)
    now = 2_000
    sent = 40
    assert.equal(snapshots.next().traffic.messagesOutPerSecond, 40)
  })

  it('carries the memory figures and the membership events as given', () => {
    const events = [
      { at: 5, event: 'left' as const, member: 'n3', address: '10.0.0.1:4002', reason: 'timeout' },
    ]
    const s = snapshotOf(input({ events }), undefined)
    assert.deepEqual(s.events, events)
    assert.deepEqual(s.memory, { rss: 100, heapUsed: 40, heapTotal: 60, external: 5, arrayBuffers: 1 })
    assert.deepEqual(s.node, { name: 'n1', ready: true })
  })
})
