import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Registry } from 'prom-client'
import type { MemberRow, Snapshot } from '../../../node/server/dashboard/snapshot.ts'
import { gaugesOn } from '../../../node/server/metrics.ts'
import { addDashboardMetrics } from '../../../node/server/metrics-dashboard.ts'

const row = (name: string, port: number, over: Partial<MemberRow> = {}): MemberRow => ({
  name,
  address: `10.0.0.${port % 10}:${port}`,
  domain: 'blue',
  ready: true,
  local: false,
  since: 2_000,
  lastHeard: { at: 9_500, via: 'ping' },
  queued: 0,
  queuedBytes: 0,
  ...over,
})

const snapshot = (over: Partial<Snapshot> = {}): Snapshot => ({
  at: 10_000,
  node: { name: 'n1', ready: true },
  members: [
    row('n1', 4001, { local: true, since: 1_500, lastHeard: null }),
    row('n2', 4002, { queued: 3, queuedBytes: 300 }),
    row('n3', 4003, { ready: false, domain: '', lastHeard: { at: 8_000, via: 'heartbeat' } }),
  ],
  contexts: [
    {
      path: '/shop',
      name: 'shop',
      manager: 'delta',
      sessions: 7,
      ready: true,
      roles: { primary: 0, backup: 0, proxy: 0 },
    },
  ],
  traffic: {
    at: 10_000,
    messagesSent: 10,
    messagesReceived: 20,
    bytesSent: 1000,
    bytesReceived: 2000,
    sendFailures: 2,
    messagesOutPerSecond: 0,
    messagesInPerSecond: 0,
    bytesOutPerSecond: 0,
    bytesInPerSecond: 0,
    failuresPerSecond: 0,
    queued: 3,
    queuedBytes: 300,
  },
  transfers: [],
  events: [],
  memory: { rss: 100, heapUsed: 40, heapTotal: 60, external: 5, arrayBuffers: 1 },
  ...over,
})

/** The exposition's samples (not its # HELP and # TYPE lines), as /metrics would answer them. */
async function scrape(s: Snapshot, counts: Array<{ event: string; reason: string; count: number }> = []) {
  const registry = new Registry()
  let taken = 0
  addDashboardMetrics(gaugesOn(registry), {
    snapshot: () => {
      taken++
      return s
    },
    membershipLog: { counts: () => counts },
    streams: () => ({ open: 1, refused: 4, skipped: 0, snapshots: 9 }),
  })
  const text = await registry.metrics()
  return { samples: text.split('\n').filter((l) => l && !l.startsWith('#')), taken }
}

describe('dashboard metrics (a snapshot in, the exposition out)', () => {
  it("shows this node apart from the others, and each other member's readiness, view, last heard and queue", async () => {
    const { samples } = await scrape(snapshot())
    assert.deepEqual(
      samples.filter((l) => /^cattery_(ready|node_|member|send_queue_member|channel_send)/.test(l)),
      [
        'cattery_ready 1',
        'cattery_node_info{name="n1",address="10.0.0.1:4001",domain="blue"} 1',
        'cattery_node_start_time_seconds 1.5',
        'cattery_member_ready{member="n2",address="10.0.0.2:4002",domain="blue"} 1',
        'cattery_member_ready{member="n3",address="10.0.0.3:4003",domain=""} 0',
        'cattery_member_joined_timestamp_seconds{member="n2"} 2',
        'cattery_member_joined_timestamp_seconds{member="n3"} 2',
        'cattery_member_last_heard_seconds{member="n2",via="ping"} 0.5',
        'cattery_member_last_heard_seconds{member="n3",via="heartbeat"} 2',
        'cattery_send_queue_member_messages{member="n2"} 3',
        'cattery_send_queue_member_messages{member="n3"} 0',
        'cattery_send_queue_member_bytes{member="n2"} 300',
        'cattery_send_queue_member_bytes{member="n3"} 0',
        'cattery_channel_send_failures_total 2',
      ],
    )
  })

  it('has no node info or start time before the channel started (no local member in the snapshot)', async () => {
    const { samples } = await scrape(snapshot({ node: { name: 'n1', ready: false }, members: [] }))
    assert.ok(samples.includes('cattery_ready 0'))
    assert.deepEqual(
      samples.filter((l) => /^cattery_(node_|member_)/.test(l)),
      [],
    )
  })

  it("shows each context's readiness, and a transfer in progress with its state, donor, reason, start and sessions", async () => {
    const s = snapshot({
      contexts: [
        { path: '/a', name: null, manager: 'delta', sessions: 2, ready: false, roles: {} as never },
        { path: '/b', name: null, manager: 'delta', sessions: 5, ready: true, roles: {} as never },
        { path: '/c', name: null, manager: 'delta', sessions: 0, ready: false, roles: {} as never },
      ],
      transfers: [
        {
          context: '/a',
          state: 'receiving',
          donor: 'n2',
          received: 2,
          expected: 9,
          since: 4_000,
          reason: null,
        },
        {
          context: '/c',
          state: 'waiting',
          donor: null,
          received: 0,
          expected: null,
          since: 6_500,
          reason: 'no ready member to ask',
        },
      ],
    })
    const { samples } = await scrape(s)
    assert.deepEqual(
      samples.filter((l) => /^cattery_(context|state_transfer)/.test(l)),
      [
        'cattery_context_ready{context="/a"} 0',
        'cattery_context_ready{context="/b"} 1',
        'cattery_context_ready{context="/c"} 0',
        'cattery_state_transfer_in_progress{context="/a"} 1',
        'cattery_state_transfer_in_progress{context="/b"} 0',
        'cattery_state_transfer_in_progress{context="/c"} 1',
        'cattery_state_transfer_info{context="/a",state="receiving",donor="n2",reason=""} 1',
        'cattery_state_transfer_info{context="/c",state="waiting",donor="",reason="no ready member to ask"} 1',
        'cattery_state_transfer_started_timestamp_seconds{context="/a"} 4',
        'cattery_state_transfer_started_timestamp_seconds{context="/c"} 6.5',
        'cattery_state_transfer_sessions{context="/a",what="received"} 2',
        'cattery_state_transfer_sessions{context="/a",what="expected"} 9',
        'cattery_state_transfer_sessions{context="/c",what="received"} 0',
      ],
    )
  })

  it('without a transfer in progress, says so per context and has no transfer series', async () => {
    const { samples } = await scrape(snapshot())
    assert.deepEqual(
      samples.filter((l) => /^cattery_(context|state_transfer)/.test(l)),
      ['cattery_context_ready{context="/shop"} 1', 'cattery_state_transfer_in_progress{context="/shop"} 0'],
    )
  })

  it('shows memory, membership events and the dashboard streams; one snapshot serves the whole scrape', async () => {
    const { samples, taken } = await scrape(snapshot(), [
      { event: 'joined', reason: '', count: 2 },
      { event: 'left', reason: 'timeout', count: 1 },
    ])
    assert.deepEqual(
      samples.filter((l) => /^cattery_(memory|membership|dashboard)/.test(l)),
      [
        'cattery_membership_events_total{event="joined",reason=""} 2',
        'cattery_membership_events_total{event="left",reason="timeout"} 1',
        'cattery_memory_bytes{kind="rss"} 100',
        'cattery_memory_bytes{kind="heapTotal"} 60',
        'cattery_memory_bytes{kind="heapUsed"} 40',
        'cattery_memory_bytes{kind="external"} 5',
        'cattery_memory_bytes{kind="arrayBuffers"} 1',
        'cattery_dashboard_streams 1',
        'cattery_dashboard_streams_refused_total 4',
      ],
    )
    assert.equal(taken, 1)
  })

  it('takes a fresh snapshot for the next scrape, and drops series of members that left', async () => {
    const registry = new Registry()
    let current = snapshot()
    addDashboardMetrics(gaugesOn(registry), {
      snapshot: () => current,
      membershipLog: { counts: () => [] },
      streams: () => ({ open: 0, refused: 0, skipped: 0, snapshots: 0 }),
    })
    assert.match(await registry.metrics(), /cattery_member_ready\{member="n3"/)
    await new Promise((r) => setImmediate(r))
    current = snapshot({ members: current.members.filter((m) => m.name !== 'n3') })
    const text = await registry.metrics()
    assert.doesNotMatch(text, /member="n3"/)
    assert.match(text, /cattery_member_ready\{member="n2"/)
  })
})
