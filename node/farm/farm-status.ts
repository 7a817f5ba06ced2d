/**
 * The farm section of /status (pure): where this member's catch-up stands and, per application the
 * farm deploys, its entry, the members that report they run it and those that failed to; failed
 * deploys of archives that are not (or no longer) an application's current one are listed as refused.
 */
import type { FarmEntry } from './farm-state.ts'
import type { FarmReport } from './reports.ts'

/** The farm section of /status. */
export interface FarmStatus {
  state: 'starting' | 'catching-up' | 'ready'
  since: number
  donor?: string
  waitingFor?: string[]
  reason?: string
  watchDir: string | undefined
  transfers: number
  applications: Array<{
    name: string
    digest: string
    size: number
    stamp: number
    origin: string
    members: string[]
    failures: Array<{ member: string; code?: string; reason?: string }>
  }>
  /** Failed deploys of archives that are not (or no longer) an application's current one. */
  refused: FarmReport[]
}

/** Where this member's catch-up stands. */
export type CatchUpStatus = Pick<FarmStatus, 'state' | 'since' | 'donor' | 'waitingFor' | 'reason'>

export interface FarmStatusInput {
  catchUp: CatchUpStatus
  watchDir: string | undefined
  /** Archives being received now. */
  transfers: number
  /** The deployed applications' entries. */
  live: FarmEntry[]
  reports: FarmReport[]
}

export function farmStatusOf({ catchUp, watchDir, transfers, live, reports }: FarmStatusInput): FarmStatus {
  const current = new Map(live.map((e) => [e.name, e.digest]))
  return {
    ...catchUp,
    watchDir,
    transfers,
    applications: live
      .map((e) => {
        const of = reports.filter((r) => r.name === e.name && r.digest === e.digest)
        return {
          name: e.name,
          digest: e.digest as string,
          size: e.size,
          stamp: e.stamp,
          origin: e.origin,
          members: of
            .filter((r) => r.ok)
            .map((r) => r.member)
            .sort(),
          failures: of.filter((r) => !r.ok).map(({ member, code, reason }) => ({ member, code, reason })),
        }
      })
      .sort((a, b) => a.name.localeCompare(b.name)),
    refused: reports.filter((r) => !r.ok && current.get(r.name) !== r.digest),
  }
}
