/**
 * The sessions of a context by role, read from its /status entry whatever shape the manager gives
 * them (Tomcat's BackupManager keeps a primary copy, a backup copy, or a proxy entry of each session;
 * the DeltaManager a full copy of every one, so it reports no roles). A pure function: the dashboard
 * and /metrics show the counts as soon as a manager reports them, with no change here.
 *
 * A count is a finite number ≥ 0 found under the role's name, in the context entry, in its `stats`,
 * or in an object named `roles`, `counts` or `sessions` of either; as `primary`, `primarySessions`,
 * or the plural (`primaries`, `backups`, `proxies`). The first match, in that order, wins.
 */
export const SESSION_ROLES = ['primary', 'backup', 'proxy'] as const
export type SessionRole = (typeof SESSION_ROLES)[number]
export type RoleCounts = Partial<Record<SessionRole, number>>

const PLURAL: Record<SessionRole, string> = { primary: 'primaries', backup: 'backups', proxy: 'proxies' }
const NESTED = ['roles', 'counts', 'sessions'] as const

export function roleCounts(context: unknown): RoleCounts {
  const places: object[] = []
  const add = (v: unknown) => {
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) places.push(v)
  }
  add(context)
  add(field(context, 'stats'))
  for (const base of [context, field(context, 'stats')]) for (const n of NESTED) add(field(base, n))
  const out: RoleCounts = {}
  for (const role of SESSION_ROLES) {
    for (const place of places) {
      const n = [role, `${role}Sessions`, PLURAL[role]]
        .map((k) => field(place, k))
        .find((v): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0)
      if (n !== undefined) {
        out[role] = n
        break
      }
    }
  }
  return out
}

function field(v: unknown, key: string): unknown {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[key] : undefined
}
