/**
 * Where a BackupManager cluster's copies of /demo's sessions are, read through each node's admin API
 * without touching the sessions: who holds a session, and the copies by role summed over nodes.
 */
import assert from 'node:assert/strict'
import { getJson, type HttpNode, status } from './http-nodes.ts'

/** /demo's statistics on `n` (undefined: n does not serve /demo). */
export async function demoStats(n: HttpNode) {
  const s = await status(n)
  return s.contexts.find((c: { path: string }) => c.path === '/demo')?.stats
}

/** Does node `n` hold a copy of session `id` of /demo? */
export const holds = async (n: HttpNode, id: string): Promise<boolean> =>
  (await getJson(`http://127.0.0.1:${n.admin}/sessions/${encodeURIComponent(id)}?context=/demo`)).status ===
  200

/** The names of the nodes of `nodes` that hold a copy of session `id`. */
export async function holders(nodes: HttpNode[], id: string): Promise<string[]> {
  const held = await Promise.all(nodes.map((n) => holds(n, id)))
  return nodes.filter((_, i) => held[i]).map((n) => n.name)
}

export interface Roles {
  primary: number
  backup: number
  proxy: number
}

/** Copies held by role, summed over `nodes` (a node without /demo counts nothing). */
export async function roles(nodes: HttpNode[]): Promise<Roles> {
  const sum = { primary: 0, backup: 0, proxy: 0 }
  for (const st of await Promise.all(nodes.map(demoStats))) {
    if (!st) continue
    sum.primary += st.primary
    sum.backup += st.backup
    sum.proxy += st.proxy
  }
  return sum
}

/** Waits until the copies held by role on `nodes` are `want` (fails with the last count). */
export async function untilRoles(nodes: HttpNode[], want: Roles, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = await roles(nodes)
  while (JSON.stringify(last) !== JSON.stringify(want)) {
    if (Date.now() > deadline) assert.deepEqual(last, want, 'copies by role')
    await new Promise((r) => setTimeout(r, 100))
    last = await roles(nodes)
  }
}
