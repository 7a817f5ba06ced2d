/**
 * What a redeploy would change of a running context's session manager. A manager takes its settings
 * when it is created, and the ClusterManager contract has no way to give it new ones while it holds
 * the context's sessions; a redeploy keeps the manager so that no session is lost. So Contexts.deploy
 * keeps the running manager only when the new version asks for the same settings, and refuses the
 * redeploy (CATTERY_ERR_APP_SETTINGS_CHANGED) naming each change otherwise (docs/applications.md,
 * "Deploying while the node runs"). A pure function: two settings in, the changed keys out.
 */
import type { ManagerSettings } from '../session/managers.ts'

export interface SettingChange {
  /** The setting as the manager holds it: `maxActiveSessions`, `type`, `policy.maxAttributeSize`. */
  key: string
  from: unknown
  to: unknown
}

/** At most this many changes are named in a refusal. */
const NAMED = 8

/** The settings of `next` that differ from `running`, in key order (nested objects by dotted key). */
export function managerChanges(running: ManagerSettings, next: ManagerSettings): SettingChange[] {
  const out: SettingChange[] = []
  diff(running, next, '', out)
  return out
}

/** `type: delta → backup, maxActiveSessions: 1000 → 2` (the first few, and how many more). */
export function describeChanges(changes: readonly SettingChange[]): string {
  const named = changes.slice(0, NAMED).map((c) => `${c.key}: ${shown(c.from)} → ${shown(c.to)}`)
  const more = changes.length - named.length
  return more > 0 ? `${named.join(', ')} and ${more} more` : named.join(', ')
}

function diff(a: unknown, b: unknown, key: string, out: SettingChange[]): void {
  if (isRecord(a) && isRecord(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()
    for (const k of keys) diff(a[k], b[k], key ? `${key}.${k}` : k, out)
    return
  }
  if (!same(a, b)) out.push({ key, from: a, to: b })
}

function same(a: unknown, b: unknown): boolean {
  if (a instanceof RegExp || b instanceof RegExp)
    return a instanceof RegExp && b instanceof RegExp && a.source === b.source && a.flags === b.flags
  return Object.is(a, b)
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !(v instanceof RegExp) && !Array.isArray(v)
}

function shown(v: unknown): string {
  if (v === undefined) return 'unset'
  if (v instanceof RegExp) return String(v)
  if (isRecord(v)) return JSON.stringify(v)
  return typeof v === 'string' ? v : String(v)
}
