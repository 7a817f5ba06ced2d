/**
 * The farm's control messages (msgpack objects on the channel, `k: FARM_MESSAGE`); the archives
 * themselves travel as byte messages (file-message.ts). Every field of a received message is checked
 * before it is used (`farmMessageOf`): a malformed message is dropped.
 *
 * - announce: a deploy or undeploy (the entry); for a deploy, the archive's chunks follow from the
 *   same sender.
 * - state-request / state: a member's entries and the reports it holds (a joiner's catch-up, and the
 *   exchange when a member comes into the view).
 * - fetch / unavailable: ask a member for the chunks of an archive it holds; it has none.
 * - report: what a member runs (or why it could not).
 */
import { entryFromWire, type FarmEntry, isDigest } from './farm-state.ts'
import { type FarmReport, reportFromWire } from './reports.ts'

export const FARM_MESSAGE = 'cattery.farm'

export type FarmMessage =
  | { k: typeof FARM_MESSAGE; type: 'announce'; entry: FarmEntry }
  | { k: typeof FARM_MESSAGE; type: 'state-request'; request: number }
  | {
      k: typeof FARM_MESSAGE
      type: 'state'
      /** The request answered; 0 when sent unasked (a member came into the view). */
      request: number
      entries: FarmEntry[]
      reports: FarmReport[]
    }
  | { k: typeof FARM_MESSAGE; type: 'fetch'; digest: string }
  | { k: typeof FARM_MESSAGE; type: 'unavailable'; digest: string }
  | { k: typeof FARM_MESSAGE; type: 'report'; report: FarmReport }

export const isFarmPayload = (p: unknown): boolean =>
  typeof p === 'object' && p !== null && (p as { k?: unknown }).k === FARM_MESSAGE

/** The message, checked; undefined when it is not a well-formed farm message. */
export function farmMessageOf(p: unknown): FarmMessage | undefined {
  if (!isFarmPayload(p)) return undefined
  const m = p as Record<string, unknown>
  const k = FARM_MESSAGE
  switch (m.type) {
    case 'announce': {
      const entry = entryFromWire(m.entry)
      return entry && { k, type: 'announce', entry }
    }
    case 'state-request':
      return Number.isSafeInteger(m.request)
        ? { k, type: 'state-request', request: m.request as number }
        : undefined
    case 'state': {
      if (!Number.isSafeInteger(m.request) || !Array.isArray(m.entries) || !Array.isArray(m.reports))
        return undefined
      const entries = m.entries.map(entryFromWire).filter((e) => e !== undefined)
      const reports = m.reports.map(reportFromWire).filter((r) => r !== undefined)
      return { k, type: 'state', request: m.request as number, entries, reports }
    }
    case 'fetch':
    case 'unavailable':
      return isDigest(m.digest) ? { k, type: m.type, digest: m.digest } : undefined
    case 'report': {
      const report = reportFromWire(m.report)
      return report && { k, type: 'report', report }
    }
    default:
      return undefined
  }
}
