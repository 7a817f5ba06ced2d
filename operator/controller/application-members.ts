/**
 * Which pods run which application (pure). `podFarmOf` reads one node's `/status` for what that node
 * says of itself: per application of the spec, the digest it runs and the deploys that failed on it.
 * Every node's farm section also lists the other members' reports (they are broadcast), but only a
 * node's word about itself is taken, so a pod that does not answer is never counted as a member on
 * another's say-so. `withMembers` turns the answers of the ready pods into status.applications[i]
 * `members` (pods running exactly the ConfigMap's digest, by ordinal) and `failures`.
 *
 * Bounds, so the status stays small (worst case about 300 KB for 100 applications on 64 pods): an
 * answer keeps only the applications of the spec (at most 100) and at most MAX_FAILURES_PER_APP
 * failures each; a reason is cut to MAX_REASON characters; an application lists at most
 * MAX_FAILURES_LISTED failing pods (the first by ordinal).
 */
import type { SessionClusterStatus } from '../api/session-cluster.ts'

export type ApplicationStatus = NonNullable<SessionClusterStatus['applications']>[number]

export interface FarmFailure {
  app: string
  digest: string
  code?: string
  reason: string
}

/** What one pod runs from the farm, as it says itself. */
export interface PodFarm {
  /** The digest it runs, by application name (absent: it runs none of that name). */
  running: Record<string, string>
  failures: FarmFailure[]
}

const MAX_FAILURES_PER_APP = 4
const MAX_REASON = 200
const MAX_FAILURES_LISTED = 10

// biome-ignore lint/suspicious/noExplicitAny: a node's answer is read defensively
type Loose = any

/**
 * What the node that answered `status` (a /status document) says of itself about `apps`; undefined
 * when the answer is not a node's status.
 */
export function podFarmOf(status: unknown, apps: readonly string[]): PodFarm | undefined {
  const s = status as Loose
  if (typeof s !== 'object' || s === null || typeof s.name !== 'string') return undefined
  const self = s.name as string
  const wanted = new Set(apps)
  const entries: Loose[] = Array.isArray(s.farm?.applications) ? s.farm.applications : []
  const refused: Loose[] = Array.isArray(s.farm?.refused) ? s.farm.refused : []
  const running: Record<string, string> = {}
  const failures: FarmFailure[] = []
  const fail = (app: unknown, digest: unknown, code: unknown, reason: unknown) => {
    if (typeof app !== 'string' || !wanted.has(app) || typeof digest !== 'string') return
    if (failures.filter((f) => f.app === app).length >= MAX_FAILURES_PER_APP) return
    failures.push({
      app,
      digest,
      ...(typeof code === 'string' ? { code } : {}),
      reason: String(reason ?? 'no reason given').slice(0, MAX_REASON),
    })
  }
  for (const e of entries) {
    if (typeof e?.name !== 'string' || !wanted.has(e.name) || typeof e.digest !== 'string') continue
    if (Array.isArray(e.members) && e.members.includes(self)) running[e.name] = e.digest
    for (const f of Array.isArray(e.failures) ? e.failures : [])
      if (f?.member === self) fail(e.name, e.digest, f.code, f.reason)
  }
  for (const r of refused) if (r?.member === self && r.ok === false) fail(r.name, r.digest, r.code, r.reason)
  failures.sort((a, b) => cmp(a.app, b.app) || cmp(a.digest, b.digest))
  return { running: Object.fromEntries(Object.entries(running).sort(([a], [b]) => cmp(a, b))), failures }
}

/**
 * status.applications with, for each application whose digest is known, the pods (in the order
 * given: by ordinal) that run exactly that digest, and the failures of that digest by pod. A pod
 * without an answer (not asked yet, not reachable) is not a member.
 */
export function withMembers(
  apps: ApplicationStatus[],
  pods: Array<{ name: string; farm: PodFarm | undefined }>,
): ApplicationStatus[] {
  return apps.map((a) => {
    if (a.digest === undefined) return a
    const failures = pods
      .flatMap((p) =>
        (p.farm?.failures ?? [])
          .filter((f) => f.app === a.name && f.digest === a.digest)
          .map((f) => ({ member: p.name, ...(f.code ? { code: f.code } : {}), reason: f.reason })),
      )
      .slice(0, MAX_FAILURES_LISTED)
    return {
      ...a,
      members: pods.filter((p) => p.farm?.running[a.name] === a.digest).map((p) => p.name),
      ...(failures.length ? { failures } : {}),
    }
  })
}

/** Every application with a known digest runs it on every pod (nothing more to wait for). */
export function converged(
  apps: ReadonlyArray<{ name: string; digest?: string | undefined }>,
  pods: Array<{ name: string; farm: PodFarm | undefined }>,
): boolean {
  return apps.every((a) => a.digest === undefined || pods.every((p) => p.farm?.running[a.name] === a.digest))
}

/** Two answers say the same (they are built in a fixed order, so their JSON compares). */
export const sameFarm = (a: PodFarm | undefined, b: PodFarm | undefined): boolean =>
  JSON.stringify(a) === JSON.stringify(b)

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)
