/**
 * The sessions of a context by role, from its /status entry's `stats` (ManagerStats): the
 * BackupManager reports the copies it holds as primary, backup or proxy (Tomcat's three kinds of
 * entries); the DeltaManager holds a full copy of every session and reports no roles (empty).
 */
const SESSION_ROLES = ['primary', 'backup', 'proxy'] as const
export type SessionRole = (typeof SESSION_ROLES)[number]
export type RoleCounts = Partial<Record<SessionRole, number>>

export function roleCounts(context: {
  stats?: { primary?: number; backup?: number; proxy?: number }
}): RoleCounts {
  const s = context.stats
  if (s?.primary === undefined) return {}
  return { primary: s.primary, backup: s.backup ?? 0, proxy: s.proxy ?? 0 }
}
