/**
 * What each member says it runs: per member and application, the digest it deployed (or failed to,
 * with the code and reason). Every member broadcasts its own reports and passes on those it holds to a
 * joiner, so every member's /status shows who runs what and where a deploy failed. A member's newer
 * report replaces its older one (by the member's own clock); a member that leaves the view takes its
 * reports with it.
 *
 * Bound: MAX_REPORTS; beyond, the oldest report is forgotten.
 */

export interface FarmReport {
  member: string
  name: string
  /** The digest it concerns; null: the member does not run the application (undeployed). */
  digest: string | null
  ok: boolean
  code?: string
  reason?: string
  /** When the member made it (its clock, ms). */
  at: number
}

const MAX_REPORTS = 4096

export function reportFromWire(x: unknown): FarmReport | undefined {
  if (typeof x !== 'object' || x === null) return undefined
  const r = x as Record<string, unknown>
  const str = (v: unknown, max: number) => typeof v === 'string' && v.length <= max
  if (!str(r.member, 253) || !str(r.name, 1024) || typeof r.ok !== 'boolean') return undefined
  if (r.digest !== null && !str(r.digest, 64)) return undefined
  if (!Number.isSafeInteger(r.at)) return undefined
  if (r.code !== undefined && !str(r.code, 100)) return undefined
  if (r.reason !== undefined && !str(r.reason, 4096)) return undefined
  return {
    member: r.member as string,
    name: r.name as string,
    digest: r.digest as string | null,
    ok: r.ok,
    ...(r.code !== undefined ? { code: r.code as string } : {}),
    ...(r.reason !== undefined ? { reason: r.reason as string } : {}),
    at: r.at as number,
  }
}

export class FarmReports {
  readonly #reports = new Map<string, FarmReport>()

  /** Keeps `r` unless the member already reported something newer for the application. */
  set(r: FarmReport): void {
    const key = `${r.member}\0${r.name}`
    const held = this.#reports.get(key)
    if (held && held.at > r.at) return
    this.#reports.delete(key)
    this.#reports.set(key, r)
    if (this.#reports.size > MAX_REPORTS) this.#reports.delete(this.#reports.keys().next().value as string)
  }

  dropMember(member: string): void {
    for (const [k, r] of this.#reports) if (r.member === member) this.#reports.delete(k)
  }

  all(): FarmReport[] {
    return [...this.#reports.values()]
  }

  of(name: string): FarmReport[] {
    return this.all().filter((r) => r.name === name)
  }
}
