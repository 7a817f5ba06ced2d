/**
 * What each member says it runs: per member and application, the digest it deployed (or failed to,
 * with the code and reason). Every member broadcasts its own reports and passes on those it holds to a
 * joiner, so every member's /status shows who runs what and where a deploy failed. Reports are kept
 * per member, application and digest, newest by the member's own clock: a member runs one version of
 * an application, so its report that it runs one (or none: an undeploy) replaces its reports that it
 * ran another; a refusal replaces nothing else, since a member whose redeploy or upload was refused
 * still runs what it ran. A member that leaves the view takes its reports with it.
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
  /** By member, application and digest. */
  readonly #reports = new Map<string, FarmReport>()
  /** By member and application: the key of its report that it runs a version (one at most). */
  readonly #runs = new Map<string, string>()

  /**
   * Keeps `r` unless the member already reported something newer for that digest (or, `r` saying it
   * runs a version, that it runs another one since); such an `r` drops the member's report that it ran
   * another version.
   */
  set(r: FarmReport): void {
    const app = `${r.member}\0${r.name}`
    const key = `${app}\0${r.digest ?? ''}`
    const held = this.#reports.get(key)
    if (held && held.at > r.at) return
    const runs = this.#runs.get(app)
    if (r.ok) {
      if (runs !== undefined && runs !== key) {
        if ((this.#reports.get(runs)?.at ?? 0) > r.at) return
        this.#reports.delete(runs)
      }
      this.#runs.set(app, key)
    } else if (runs === key) this.#runs.delete(app)
    this.#reports.delete(key)
    this.#reports.set(key, r)
    if (this.#reports.size > MAX_REPORTS) {
      const [oldest, o] = this.#reports.entries().next().value as [string, FarmReport]
      this.#reports.delete(oldest)
      if (this.#runs.get(`${o.member}\0${o.name}`) === oldest) this.#runs.delete(`${o.member}\0${o.name}`)
    }
  }

  dropMember(member: string): void {
    for (const [k, r] of this.#reports)
      if (r.member === member) {
        this.#reports.delete(k)
        this.#runs.delete(`${r.member}\0${r.name}`)
      }
  }

  all(): FarmReport[] {
    return [...this.#reports.values()]
  }

  of(name: string): FarmReport[] {
    return this.all().filter((r) => r.name === name)
  }
}
