/**
 * The metrics behind the dashboard's figures that metrics.ts does not have, so every figure on the
 * page is also in /metrics (docs/dashboard.md maps each to its metric; the page's rates are rate()
 * of the channel's counters). Read from the same snapshot the page is sent (dashboard/snapshot.ts), so
 * the two cannot disagree: this node (info, start time, readiness); each other member it sees with
 * its readiness, when it joined the view, how long since it was last heard from and how, and what is
 * queued for it; failed sends; membership events by reason; each context's readiness; state
 * transfers in progress (state, donor, reason, start, sessions); memory; the dashboard's open streams.
 * One snapshot per scrape (taken at the first gauge, dropped at the next turn of the event loop).
 * Labels are bounded by the members in view and the contexts deployed; a transfer's reason is a label
 * only while that context's transfer is in progress.
 */
import type { DashboardStreamStats } from './dashboard/event-stream.ts'
import type { MembershipLog } from './dashboard/membership-log.ts'
import type { Snapshot } from './dashboard/snapshot.ts'
import type { GaugeMaker } from './metrics.ts'

export interface DashboardMetricsSource {
  /** What the page is shown now (`snapshotOf` in dashboard/snapshot.ts; its rates are not read here). */
  snapshot: () => Snapshot
  membershipLog: Pick<MembershipLog, 'counts'>
  streams: () => DashboardStreamStats
}

const MEMORY_KINDS = ['rss', 'heapTotal', 'heapUsed', 'external', 'arrayBuffers'] as const

export function addDashboardMetrics(gauge: GaugeMaker, o: DashboardMetricsSource): void {
  const snap = oncePerTurn(o.snapshot)
  const self = () => snap().members.find((m) => m.local)
  const others = () => snap().members.filter((m) => !m.local)
  gauge(
    'cattery_ready',
    'This node is ready (1) or not (0): it holds the cluster state and serves',
    [],
    (g) => g.set(snap().node.ready ? 1 : 0),
  )
  gauge(
    'cattery_node_info',
    'This node, with its address and domain (1; absent before its channel started)',
    ['name', 'address', 'domain'],
    (g) => {
      g.reset()
      const l = self()
      if (l) g.set({ name: l.name, address: l.address, domain: l.domain }, 1)
    },
  )
  gauge(
    'cattery_node_start_time_seconds',
    "When this node's channel started (Unix time; the page's 'since' for this node)",
    [],
    (g) => {
      const l = self()
      // An unlabelled gauge shows 0 unless its one series is removed: no sample rather than a false time.
      if (l) g.set(l.since / 1000)
      else g.remove({})
    },
  )
  gauge(
    'cattery_member_ready',
    'Each other member this node sees, with its address and domain: ready (1) or joining (0)',
    ['member', 'address', 'domain'],
    (g) => {
      g.reset()
      for (const m of others())
        g.set({ member: m.name, address: m.address, domain: m.domain }, m.ready ? 1 : 0)
    },
  )
  gauge(
    'cattery_member_joined_timestamp_seconds',
    "When each other member entered this node's view (Unix time)",
    ['member'],
    (g) => {
      g.reset()
      for (const m of others()) g.set({ member: m.name }, m.since / 1000)
    },
  )
  gauge(
    'cattery_member_last_heard_seconds',
    'Seconds since each other member was last heard from, and how (heartbeat or ping)',
    ['member', 'via'],
    (g) => {
      g.reset()
      const s = snap()
      for (const m of others())
        if (m.lastHeard) g.set({ member: m.name, via: m.lastHeard.via }, (s.at - m.lastHeard.at) / 1000)
    },
  )
  gauge(
    'cattery_send_queue_member_messages',
    'Asynchronous messages queued for each other member (MessageDispatch)',
    ['member'],
    (g) => {
      g.reset()
      for (const m of others()) g.set({ member: m.name }, m.queued)
    },
  )
  gauge(
    'cattery_send_queue_member_bytes',
    'Bytes queued for each other member (MessageDispatch)',
    ['member'],
    (g) => {
      g.reset()
      for (const m of others()) g.set({ member: m.name }, m.queuedBytes)
    },
  )
  gauge('cattery_channel_send_failures_total', 'Messages the channel failed to send to a member', [], (g) =>
    g.set(snap().traffic.sendFailures),
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
    'cattery_context_ready',
    "Each context holds the cluster's sessions (1) or is still receiving them by state transfer (0)",
    ['context'],
    (g) => {
      g.reset()
      for (const c of snap().contexts) g.set({ context: c.path }, c.ready ? 1 : 0)
    },
  )
  gauge(
    'cattery_state_transfer_in_progress',
    'A state transfer is under way (1) or not (0), per context',
    ['context'],
    (g) => {
      g.reset()
      const s = snap()
      const running = new Set(s.transfers.map((t) => t.context))
      for (const c of s.contexts) g.set({ context: c.path }, running.has(c.path) ? 1 : 0)
    },
  )
  gauge(
    'cattery_state_transfer_info',
    "This node's state transfer in progress, per context: its state (waiting, receiving), the donor asked last and why the last attempt did not complete ('' for none)",
    ['context', 'state', 'donor', 'reason'],
    (g) => {
      g.reset()
      for (const t of snap().transfers)
        g.set({ context: t.context, state: t.state, donor: t.donor ?? '', reason: t.reason ?? '' }, 1)
    },
  )
  gauge(
    'cattery_state_transfer_started_timestamp_seconds',
    "When this node's state transfer in progress started, per context (Unix time)",
    ['context'],
    (g) => {
      g.reset()
      for (const t of snap().transfers) g.set({ context: t.context }, t.since / 1000)
    },
  )
  gauge(
    'cattery_state_transfer_sessions',
    "This node's state transfer in progress, per context: sessions received and expected",
    ['context', 'what'],
    (g) => {
      g.reset()
      for (const t of snap().transfers) {
        g.set({ context: t.context, what: 'received' }, t.received)
        if (t.expected !== null) g.set({ context: t.context, what: 'expected' }, t.expected)
      }
    },
  )
  gauge('cattery_memory_bytes', 'Memory of the node process (process.memoryUsage)', ['kind'], (g) => {
    const m = snap().memory
    for (const kind of MEMORY_KINDS) g.set({ kind }, m[kind])
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

/** `take()` at most once per turn of the event loop: the gauges of one scrape read one value. */
function oncePerTurn<T>(take: () => T): () => T {
  let held: { value: T } | undefined
  return () => {
    if (!held) {
      held = { value: take() }
      setImmediate(() => {
        held = undefined
      })
    }
    return held.value
  }
}
