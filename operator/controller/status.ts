/**
 * The status of a SessionCluster, computed from what it owns (pure): replicas, readiness, the member
 * list the nodes watch for their peers, and the conditions. A condition keeps its lastTransitionTime
 * while its status stays the same, so an unchanged cluster computes an identical status and the
 * controller writes nothing.
 */
import type { SessionCluster, SessionClusterStatus } from '../api/session-cluster.ts'
import { selectorString } from '../resources/meta.ts'

type Condition = NonNullable<SessionClusterStatus['conditions']>[number]
export type Member = NonNullable<SessionClusterStatus['members']>[number]

export interface PodView {
  metadata?: { name?: string; deletionTimestamp?: Date | string }
  status?: { podIP?: string; conditions?: Array<{ type: string; status: string }> }
}

export interface StatefulSetView {
  metadata?: { generation?: number }
  spec?: { replicas?: number }
  status?: {
    observedGeneration?: number
    replicas?: number
    readyReplicas?: number
    updatedReplicas?: number
    currentRevision?: string
    updateRevision?: string
  }
}

export interface ObservedState {
  statefulSet?: StatefulSetView
  pods: PodView[]
  /** The error of the last apply, when it failed. */
  error?: string
  /** spec.applications with the digest of each ConfigMap's archive, or why it cannot be read. */
  applications?: NonNullable<SessionClusterStatus['applications']>
}

const ordinal = (name: string) => Number(name.slice(name.lastIndexOf('-') + 1)) || 0

const isPodReady = (p: PodView): boolean =>
  !p.metadata?.deletionTimestamp &&
  (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')

/**
 * Pods with an address, by ordinal: pod name (the jvmRoute), pod IP, replication port, ready. A pod
 * being deleted stays listed (not ready) until it is gone: while its preStop runs it still answers
 * requests the Service routed to it a moment ago, so it must keep receiving the others' changes; it
 * leaves the nodes' views itself, by saying goodbye on SIGTERM. Dropping it from the list at once
 * made the others stop replicating to it, and it served stale sessions (found by the e2e test).
 */
export function membersOf(sc: SessionCluster, pods: PodView[]): Member[] {
  return pods
    .filter((p) => p.metadata?.name && p.status?.podIP)
    .map((p) => ({
      name: p.metadata?.name as string,
      podIP: p.status?.podIP as string,
      port: sc.spec.channel.receiverPort,
      ready: isPodReady(p),
    }))
    .sort((a, b) => ordinal(a.name) - ordinal(b.name))
}

export function computeStatus(sc: SessionCluster, seen: ObservedState, now: Date): SessionClusterStatus {
  const want = sc.spec.replicas
  const pods = seen.pods.filter((p) => !p.metadata?.deletionTimestamp)
  const replicas = pods.length
  const readyReplicas = pods.filter(isPodReady).length
  const sts = seen.statefulSet
  const stsCurrent =
    !!sts &&
    (sts.status?.observedGeneration ?? 0) >= (sts.metadata?.generation ?? 0) &&
    (sts.status?.updatedReplicas ?? 0) === want &&
    (!sts.status?.updateRevision || sts.status.updateRevision === sts.status.currentRevision || want === 0)
  const converged = stsCurrent && replicas === want && readyReplicas === want
  const previous = sc.status?.conditions ?? []
  const at = now.toISOString()
  const cond = (type: string, status: boolean, reason: string, message: string): Condition => {
    const s = status ? 'True' : 'False'
    const old = previous.find((c) => c.type === type)
    return {
      type,
      status: s,
      reason,
      message,
      lastTransitionTime: old && old.status === s ? old.lastTransitionTime : at,
      observedGeneration: sc.metadata.generation ?? 0,
    }
  }
  const conditions: Condition[] = [
    cond(
      'Ready',
      readyReplicas >= want && replicas === want,
      readyReplicas >= want ? 'AllNodesReady' : 'NodesNotReady',
      `${readyReplicas} of ${want} nodes hold the cluster's sessions and serve`,
    ),
    cond(
      'Progressing',
      !converged,
      converged ? 'Converged' : !sts ? 'Creating' : replicas !== want ? 'Scaling' : 'RollingOut',
      converged
        ? 'the nodes match the spec'
        : `${replicas} nodes, ${readyReplicas} ready, ${sts?.status?.updatedReplicas ?? 0} updated; want ${want}`,
    ),
    cond(
      'Degraded',
      !!seen.error,
      seen.error ? 'ApplyFailed' : 'AsExpected',
      seen.error ?? 'the owned objects were applied',
    ),
  ]
  // Shown only while they happen (kubectl wait --for=condition=ScalingUp=false works on absence too).
  if (replicas < want) conditions.push(cond('ScalingUp', true, 'ScalingUp', `${replicas} → ${want} nodes`))
  if (replicas > want)
    conditions.push(cond('ScalingDown', true, 'ScalingDown', `${replicas} → ${want} nodes`))
  return {
    observedGeneration: sc.metadata.generation ?? 0,
    replicas,
    readyReplicas,
    selector: selectorString(sc),
    members: membersOf(sc, seen.pods),
    conditions,
    ...(seen.applications?.length ? { applications: seen.applications } : {}),
  }
}

/** Whether writing `next` would change anything (the controller writes status only then). */
export function statusChanged(
  current: SessionClusterStatus | undefined,
  next: SessionClusterStatus,
): boolean {
  return canonical(normalize(current ?? {})) !== canonical(normalize(next))
}

function normalize(s: SessionClusterStatus): unknown {
  return {
    observedGeneration: s.observedGeneration ?? 0,
    replicas: s.replicas ?? 0,
    readyReplicas: s.readyReplicas ?? 0,
    selector: s.selector ?? '',
    members: s.members ?? [],
    applications: s.applications ?? [],
    conditions: (s.conditions ?? []).map((c) => ({ ...c, observedGeneration: c.observedGeneration ?? 0 })),
  }
}

/** JSON with object keys sorted: the API server returns custom resources with sorted keys. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`
  }
  return JSON.stringify(v)
}
