/**
 * Prometheus metrics of a node, read from the live counters at scrape time: sessions, replication and
 * the channel here; the figures the dashboard adds (this node, members, queues per member, membership
 * events, contexts' readiness, state transfers, memory) in metrics-dashboard.ts, on the same registry.
 */
import { Gauge, Registry } from 'prom-client'
import type { Cluster } from '../cluster/cluster.ts'
import { addDashboardMetrics, type DashboardMetricsSource } from './metrics-dashboard.ts'
import type { ValveStats } from './session-plugin.ts'

/** A gauge on `registry` whose value `collect` sets at each scrape. */
export type GaugeMaker = (
  name: string,
  help: string,
  labelNames: string[],
  collect: (g: Gauge) => void,
) => Gauge

/** Gauges on `registry`, each collected at scrape time. */
export function gaugesOn(registry: Registry): GaugeMaker {
  return (name, help, labelNames, collect) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        collect(this)
      },
    })
}

export function createMetrics(
  cluster: Cluster,
  valves: Map<string, ValveStats>,
  dashboard?: DashboardMetricsSource,
): Registry {
  const registry = new Registry()
  const gauge = gaugesOn(registry)
  const each = (fn: (m: ReturnType<Cluster['managers']>[number]) => void) => {
    for (const m of cluster.managers()) fn(m)
  }
  gauge('cattery_sessions_active', 'Sessions held, per context', ['context'], (g) =>
    each((m) => g.set({ context: m.contextPath }, m.sessionCount())),
  )
  gauge(
    'cattery_sessions_held',
    'Session copies held, by role (BackupManager: primary, backup, proxy)',
    ['context', 'role'],
    (g) =>
      each((m) => {
        const { primary, backup, proxy } = m.stats()
        if (primary === undefined) return
        g.set({ context: m.contextPath, role: 'primary' }, primary)
        g.set({ context: m.contextPath, role: 'backup' }, backup ?? 0)
        g.set({ context: m.contextPath, role: 'proxy' }, proxy ?? 0)
      }),
  )
  gauge('cattery_sessions_created_total', 'Sessions created on this node', ['context'], (g) =>
    each((m) => g.set({ context: m.contextPath }, m.stats().created)),
  )
  gauge('cattery_sessions_expired_total', 'Sessions expired or invalidated', ['context'], (g) =>
    each((m) => g.set({ context: m.contextPath }, m.stats().expired)),
  )
  gauge(
    'cattery_session_messages_total',
    'Session messages by type and direction',
    ['context', 'type', 'direction'],
    (g) =>
      each((m) => {
        const { sent, received } = m.messageCounts()
        for (const [type, n] of Object.entries(sent))
          g.set({ context: m.contextPath, type, direction: 'sent' }, n)
        for (const [type, n] of Object.entries(received))
          g.set({ context: m.contextPath, type, direction: 'received' }, n)
      }),
  )
  gauge('cattery_state_transfer_seconds', 'Time the last state transfer took', ['context'], (g) =>
    each((m) => {
      const { transferMs } = m.stats()
      if (transferMs !== undefined) g.set({ context: m.contextPath }, transferMs / 1000)
    }),
  )
  gauge(
    'cattery_replication_held_changes',
    'Changes waiting for an earlier change (replication lag)',
    ['context'],
    (g) =>
      each((m) => {
        const { held } = m.stats()
        if (held !== undefined) g.set({ context: m.contextPath }, held)
      }),
  )
  gauge(
    'cattery_replication_refused_total',
    'Replicated copies and changes refused for breaking a limit, by reason (docs/sessions.md)',
    ['context', 'reason'],
    (g) =>
      each((m) => {
        for (const [reason, n] of Object.entries(m.stats().refused ?? {}))
          g.set({ context: m.contextPath, reason }, n ?? 0)
      }),
  )
  gauge(
    'cattery_read_your_writes_total',
    "Requests that waited for their client's last write: caught-up (it arrived or was fetched) or stale (served an older copy past manager.readYourWritesTimeout)",
    ['context', 'outcome'],
    (g) =>
      each((m) => {
        const r = m.stats().readYourWrites
        if (!r) return
        g.set({ context: m.contextPath, outcome: 'caught-up' }, r.caughtUp)
        g.set({ context: m.contextPath, outcome: 'stale' }, r.staleReads)
      }),
  )
  gauge(
    'cattery_replication_conflicts_total',
    'Changes from a conflicting branch that ranked higher than the copy held (the copy was fetched)',
    ['context'],
    (g) =>
      each((m) => {
        const { conflicts } = m.stats()
        if (conflicts !== undefined) g.set({ context: m.contextPath }, conflicts)
      }),
  )
  gauge('cattery_channel_messages_total', 'Channel messages', ['direction'], (g) => {
    const s = cluster.channel.stats()
    g.set({ direction: 'sent' }, s.messagesSent)
    g.set({ direction: 'received' }, s.messagesReceived)
  })
  gauge('cattery_channel_bytes_total', 'Channel bytes', ['direction'], (g) => {
    const s = cluster.channel.stats()
    g.set({ direction: 'sent' }, s.bytesSent)
    g.set({ direction: 'received' }, s.bytesReceived)
  })
  gauge('cattery_send_queue_messages', 'Asynchronous messages queued (MessageDispatch)', [], (g) =>
    g.set(cluster.channel.stats().interceptors.MessageDispatch?.queued ?? 0),
  )
  gauge('cattery_send_queue_bytes', 'Bytes queued for asynchronous sending', [], (g) =>
    g.set(cluster.channel.stats().interceptors.MessageDispatch?.queuedBytes ?? 0),
  )
  gauge('cattery_members', 'Other members this node sees (not counting itself)', [], (g) =>
    g.set(cluster.channel.members().length),
  )
  gauge(
    'cattery_replication_requests_total',
    'Requests seen by the ReplicationValve',
    ['context', 'outcome'],
    (g) => {
      for (const [context, v] of valves) {
        g.set({ context, outcome: 'replicated' }, v.replicated)
        g.set({ context, outcome: 'filtered' }, v.filtered)
      }
    },
  )
  if (dashboard) addDashboardMetrics(gauge, dashboard)
  return registry
}
