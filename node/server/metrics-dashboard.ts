/**
 * The metrics behind the dashboard's figures that metrics.ts does not have, so every figure on the
 * page is also in /metrics (docs/dashboard.md maps each to its metric; the page's rates are rate()
 * of the channel's counters): each member this node sees with its readiness, when it joined the view,
 * how long since it was last heard from and how; what is queued for each; failed sends; membership
 * events by reason; state transfers in progress; the node's readiness and memory; the dashboard's open streams.
 * Read at scrape time; labels are bounded by the members in view and the contexts deployed.
 */
import type { Cluster } from '../cluster/cluster.ts'
import type { DashboardStreamStats } from './dashboard/event-stream.ts'
import type { MembershipLog } from './dashboard/membership-log.ts'
import type { GaugeMaker } from './metrics.ts'
import type { NodeStatus } from './status.ts'

export interface DashboardMetricsSource {
  cluster: Cluster
  membershipLog: MembershipLog
  /** The node's status document (status.ts), as /status shows it. */
  status: () => NodeStatus
  streams: () => DashboardStreamStats
}

export function addDashboardMetrics(gauge: GaugeMaker, o: DashboardMetricsSource): void {
  const { channel } = o.cluster
  const details = () => channel.memberDetails()
  gauge(
    'cattery_ready',
    'This node is ready (1) or not (0): it holds the cluster state and serves',
    [],
    (g) => g.set(o.status().ready ? 1 : 0),
  )
  gauge(
    'cattery_member_ready',
    'Each member this node sees, with its address and domain: ready (1) or joining (0)',
    ['member', 'address', 'domain'],
    (g) => {
      g.reset()
      for (const d of details())
        g.set(
          { member: d.member.name, address: `${d.member.host}:${d.member.port}`, domain: d.member.domain },
          d.member.ready ? 1 : 0,
        )
    },
  )
  gauge(
    'cattery_member_joined_timestamp_seconds',
    "When each member entered this node's view (Unix time)",
    ['member'],
    (g) => {
      g.reset()
      for (const d of details()) g.set({ member: d.member.name }, d.since / 1000)
    },
  )
  gauge(
    'cattery_member_last_heard_seconds',
    'Seconds since each member was last heard from, and how (heartbeat or ping)',
    ['member', 'via'],
    (g) => {
      g.reset()
      const now = Date.now()
      for (const d of details())
        if (d.lastHeard) g.set({ member: d.member.name, via: d.lastHeard.via }, (now - d.lastHeard.at) / 1000)
    },
  )
  gauge(
    'cattery_send_queue_member_messages',
    'Asynchronous messages queued for each member (MessageDispatch)',
    ['member'],
    (g) => {
      g.reset()
      for (const d of details()) g.set({ member: d.member.name }, d.queued)
    },
  )
  gauge(
    'cattery_send_queue_member_bytes',
    'Bytes queued for each member (MessageDispatch)',
    ['member'],
    (g) => {
      g.reset()
      for (const d of details()) g.set({ member: d.member.name }, d.queuedBytes)
    },
  )
  gauge('cattery_channel_send_failures_total', 'Messages the channel failed to send to a member', [], (g) =>
    g.set(channel.stats().sendFailures),
  )
  gauge(
    'cattery_membership_events_total',
    "Members that joined or left this node's view, by reason of leaving",
    ['event', 'reason'],
    (g) => {
      for (const c of o.membershipLog.counts()) g.set({ event: c.event, reason: c.reason }, c.count)
    },
  )
  gauge(
    'cattery_state_transfer_sessions',
    "This node's state transfer in progress, per context: sessions received and expected",
    ['context', 'what'],
    (g) => {
      g.reset()
      for (const c of o.status().contexts) {
        const t = c.stats.stateTransfer
        if (!t || t.state === 'done') continue
        g.set({ context: c.path, what: 'received' }, t.received)
        if (t.expected !== undefined) g.set({ context: c.path, what: 'expected' }, t.expected)
      }
    },
  )
  gauge(
    'cattery_state_transfer_in_progress',
    'A state transfer is under way (1) or not (0), per context',
    ['context'],
    (g) => {
      g.reset()
      for (const c of o.status().contexts) {
        const t = c.stats.stateTransfer
        g.set({ context: c.path }, t && t.state !== 'done' ? 1 : 0)
      }
    },
  )
  gauge('cattery_memory_bytes', 'Memory of the node process (process.memoryUsage)', ['kind'], (g) => {
    const m = process.memoryUsage()
    for (const kind of ['rss', 'heapTotal', 'heapUsed', 'external', 'arrayBuffers'] as const)
      g.set({ kind }, m[kind])
  })
  gauge('cattery_dashboard_streams', 'Dashboard event streams open on this node', [], (g) =>
    g.set(o.streams().open),
  )
  gauge(
    'cattery_dashboard_streams_refused_total',
    'Dashboard event streams refused at the bound (503 CATTERY_ERR_DASHBOARD_BUSY)',
    [],
    (g) => g.set(o.streams().refused),
  )
}
