/**
 * The node's status document (`/status` of the admin server), built in one place so the dashboard
 * reads exactly what /status shows: whatever a manager adds to its context's entry (its stats, the
 * BackupManager's counts by role) reaches both. Reads live counters only; allocates the document.
 */
import type { Cluster } from '../cluster/cluster.ts'
import type { FarmWarDeployer } from '../farm/farm-war-deployer.ts'
import type { ManagerKind, ManagerStats } from '../session/manager.ts'
import type { ChannelStats } from '../tribes/channel-types.ts'
import type { RefusedApp } from './app-base.ts'
import type { ContextInfo } from './contexts.ts'
import type { ValveStats } from './session-plugin.ts'

export interface StatusSource {
  name: string
  cluster: Cluster
  valves: Map<string, ValveStats>
  /** The deployed applications and those refused (with their code and reason). */
  applications?: (() => { deployed: ContextInfo[]; refused: RefusedApp[] }) | undefined
  farm?: FarmWarDeployer | undefined
  /** The node reports ready (membership runs, every context holds the cluster's sessions, serving). */
  ready: () => boolean
}

export interface ContextStatus {
  name: string | undefined
  path: string
  source: string | undefined
  version: string | undefined
  manager: ManagerKind
  sessions: number
  ready: boolean
  stats: ManagerStats
  valve: ValveStats | undefined
}

export interface NodeStatus {
  name: string
  ready: boolean
  members: Array<{ name: string; host: string; port: number; ready: boolean }>
  contexts: ContextStatus[]
  refusedApplications: RefusedApp[]
  farm?: ReturnType<FarmWarDeployer['status']>
  channel: ChannelStats
  memory: NodeJS.MemoryUsage
}

export function nodeStatus(o: StatusSource): NodeStatus {
  const { channel } = o.cluster
  const applications = o.applications?.() ?? { deployed: [], refused: [] }
  const byPath = new Map(applications.deployed.map((c) => [c.path, c]))
  return {
    name: o.name,
    ready: o.ready(),
    members: channel.members().map((m) => ({ name: m.name, host: m.host, port: m.port, ready: m.ready })),
    contexts: o.cluster.managers().map((m) => ({
      name: byPath.get(m.contextPath)?.name,
      path: m.contextPath,
      source: byPath.get(m.contextPath)?.source,
      version: byPath.get(m.contextPath)?.version,
      manager: m.kind,
      sessions: m.sessionCount(),
      ready: m.ready,
      stats: m.stats(),
      valve: o.valves.get(m.contextPath),
    })),
    refusedApplications: applications.refused,
    ...(o.farm ? { farm: o.farm.status() } : {}),
    channel: channel.stats(),
    memory: process.memoryUsage(),
  }
}
