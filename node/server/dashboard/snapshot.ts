/**
 * What the dashboard shows, as one JSON-ready value: `snapshotOf` is a pure function of what the node
 * observed (its /status document, its members' details, the membership log) and of the previous
 * traffic sample, from which it computes rates. `Snapshots` is the thin stateful shell that keeps
 * that one previous sample. Every figure here is also in /metrics (docs/dashboard.md maps them).
 * Bounded: one entry per member, context and held membership event; nothing accumulates.
 */
import type { MemberDetails } from '../../tribes/channel-types.ts'
import type { HeardVia } from '../../tribes/membership/service.ts'
import { type RoleCounts, roleCounts } from '../session-roles.ts'
import type { NodeStatus } from '../status.ts'
import type { MembershipEvent } from './membership-log.ts'

export interface TrafficSample {
  at: number
  messagesSent: number
  messagesReceived: number
  bytesSent: number
  bytesReceived: number
  sendFailures: number
}

export interface Rates {
  messagesOutPerSecond: number
  messagesInPerSecond: number
  bytesOutPerSecond: number
  bytesInPerSecond: number
  failuresPerSecond: number
}

export interface MemberRow {
  name: string
  address: string
  domain: string
  ready: boolean
  /** The node the page is served by. */
  local: boolean
  /** ms since the epoch: when it joined this node's view (this node: when it started). */
  since: number
  /** How and when it was last heard from (none for this node). */
  lastHeard: { at: number; via: HeardVia } | null
  queued: number
  queuedBytes: number
}

export interface ContextRow {
  path: string
  name: string | null
  manager: string
  sessions: number
  ready: boolean
  roles: RoleCounts
}

export interface TransferRow {
  context: string
  state: string
  donor: string | null
  received: number
  expected: number | null
  since: number
  reason: string | null
}

export interface Snapshot {
  at: number
  node: { name: string; ready: boolean }
  members: MemberRow[]
  contexts: ContextRow[]
  traffic: TrafficSample & Rates & { queued: number; queuedBytes: number }
  transfers: TransferRow[]
  events: MembershipEvent[]
  memory: { rss: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number }
}

export interface SnapshotInput {
  now: number
  status: NodeStatus
  /** This node as a member (undefined before its channel started). */
  local: { name: string; host: string; port: number; domain: string; startTime: number } | undefined
  members: MemberDetails[]
  events: MembershipEvent[]
}

export function snapshotOf(input: SnapshotInput, previous: TrafficSample | undefined): Snapshot {
  const { status, now } = input
  const c = status.channel
  const sample: TrafficSample = {
    at: now,
    messagesSent: c.messagesSent,
    messagesReceived: c.messagesReceived,
    bytesSent: c.bytesSent,
    bytesReceived: c.bytesReceived,
    sendFailures: c.sendFailures,
  }
  const others: MemberRow[] = input.members.map((d) => ({
    name: d.member.name,
    address: `${d.member.host}:${d.member.port}`,
    domain: d.member.domain,
    ready: d.member.ready,
    local: false,
    since: d.since,
    lastHeard: d.lastHeard ? { at: d.lastHeard.at, via: d.lastHeard.via } : null,
    queued: d.queued,
    queuedBytes: d.queuedBytes,
  }))
  const l = input.local
  const self: MemberRow[] = l
    ? [
        {
          name: l.name,
          address: `${l.host}:${l.port}`,
          domain: l.domain,
          ready: status.ready,
          local: true,
          since: l.startTime,
          lastHeard: null,
          queued: 0,
          queuedBytes: 0,
        },
      ]
    : []
  const m = status.memory
  return {
    at: now,
    node: { name: status.name, ready: status.ready },
    members: [...self, ...others.sort((a, b) => a.name.localeCompare(b.name))],
    contexts: status.contexts.map((x) => ({
      path: x.path,
      name: x.name ?? null,
      manager: x.manager,
      sessions: x.sessions,
      ready: x.ready,
      roles: roleCounts(x),
    })),
    traffic: {
      ...sample,
      ...ratesBetween(previous, sample),
      queued: others.reduce((n, r) => n + r.queued, 0),
      queuedBytes: others.reduce((n, r) => n + r.queuedBytes, 0),
    },
    transfers: status.contexts.flatMap((x) => {
      const t = x.stats.stateTransfer
      if (!t || t.state === 'done') return []
      return [
        {
          context: x.path,
          state: t.state,
          donor: t.donor ?? null,
          received: t.received,
          expected: t.expected ?? null,
          since: t.since,
          reason: t.reason ?? null,
        },
      ]
    }),
    events: input.events,
    memory: {
      rss: m.rss,
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
    },
  }
}

/** Per second between two samples; zeros without a previous one, or when a counter went back. */
export function ratesBetween(previous: TrafficSample | undefined, now: TrafficSample): Rates {
  const seconds = previous ? (now.at - previous.at) / 1000 : 0
  const rate = (k: keyof Omit<TrafficSample, 'at'>) =>
    previous && seconds > 0 ? Math.max(0, (now[k] - previous[k]) / seconds) : 0
  return {
    messagesOutPerSecond: rate('messagesSent'),
    messagesInPerSecond: rate('messagesReceived'),
    bytesOutPerSecond: rate('bytesSent'),
    bytesInPerSecond: rate('bytesReceived'),
    failuresPerSecond: rate('sendFailures'),
  }
}

/** Takes snapshots one after the other, each with the rates since the one before. */
export class Snapshots {
  readonly #observe: () => SnapshotInput
  #previous: TrafficSample | undefined

  constructor(observe: () => SnapshotInput) {
    this.#observe = observe
  }

  next(): Snapshot {
    const s = snapshotOf(this.#observe(), this.#previous)
    const { at, messagesSent, messagesReceived, bytesSent, bytesReceived, sendFailures } = s.traffic
    this.#previous = { at, messagesSent, messagesReceived, bytesSent, bytesReceived, sendFailures }
    return s
  }
}
