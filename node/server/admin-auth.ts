/**
 * Who may read the admin server beyond /livez, /readyz and the dashboard page's files (status,
 * metrics, sessions, the dashboard's events):
 *
 * - with a token (admin.token, or admin.tokenFile re-read when the file changes): only requests with
 *   `Authorization: Bearer <token>`, compared in constant time;
 * - without one: everyone when the server listens on loopback (only this machine reaches it) or when
 *   admin.open says so explicitly; on any other address nobody (401 naming how to set a token);
 * - a write (deploying or undeploying an application: it runs code) only with the token, on loopback
 *   and with admin.open too.
 *
 * `decide` is a pure function of what is configured and what the request carries; the hook in
 * admin.ts only answers what it decided.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { statSync } from 'node:fs'
import net from 'node:net'
import { readAdminToken } from '../config/load.ts'
import { DASHBOARD_PAGE_PATHS } from './dashboard/assets.ts'

/**
 * Paths that answer everyone: the kubelet's probes carry no token, and the dashboard's page (its
 * HTML, script and style: no data) must load before it can ask for the token.
 */
const OPEN_PATHS: ReadonlySet<string> = new Set(['/livez', '/readyz', ...DASHBOARD_PAGE_PATHS])

export type AdminDecision =
  | { allow: true }
  | { allow: false; reason: 'no-token-configured' | 'bad-token'; message: string }

export interface AdminAccess {
  /** The token now, if one is configured. */
  token: string | undefined
  /** The address the server listens on (from the socket, e.g. 127.0.0.1, ::, 0.0.0.0). */
  address: string | undefined
  open: boolean
}

const HOW_TO_SET_A_TOKEN =
  'set a token: admin.token (--admin-token, CATTERY_ADMIN_TOKEN) or admin.tokenFile (--admin-token-file, CATTERY_ADMIN_TOKEN_FILE); or listen on loopback only (--admin-host 127.0.0.1); or open it to everyone who reaches it with admin.open (--admin-open)'

export function decide(
  path: string,
  authorization: string | undefined,
  a: AdminAccess,
  write = false,
): AdminDecision {
  if (OPEN_PATHS.has(path) && !write) return { allow: true }
  if (a.token !== undefined) {
    if (bearerMatches(authorization, a.token)) return { allow: true }
    return {
      allow: false,
      reason: 'bad-token',
      message: 'this needs the admin token: Authorization: Bearer <admin.token>',
    }
  }
  if (write)
    return {
      allow: false,
      reason: 'no-token-configured',
      message: `deploying or undeploying applications needs the admin token, and none is configured: ${HOW_TO_SET_A_TOKEN.replace(/; or listen on loopback.*$/, '')}`,
    }
  if (a.open || isLoopback(a.address)) return { allow: true }
  return {
    allow: false,
    reason: 'no-token-configured',
    message: `the admin server listens on ${a.address ?? 'a non-loopback address'} without a token, so it answers only /livez and /readyz; ${HOW_TO_SET_A_TOKEN}`,
  }
}

/** 127.0.0.0/8, ::1, and IPv4-mapped loopback; `localhost` by name. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false
  if (address === 'localhost' || address === '::1') return true
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address
  return net.isIPv4(v4) && v4.startsWith('127.')
}

/** Constant time whatever the lengths: both sides are hashed to 32 bytes before they are compared. */
export function bearerMatches(authorization: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')
  const got = createHash('sha256')
    .update(m?.[1] ?? '')
    .digest()
  const want = createHash('sha256').update(token).digest()
  return timingSafeEqual(got, want) && m !== null
}

/**
 * The configured token. A token file is re-read when its modification time changes (looked at most
 * every `checkEveryMs`), so a rotated Secret takes effect without a restart; a file that becomes
 * unreadable or too short keeps the last good token (and `onProblem` says why).
 */
export function tokenSource(
  o: { token?: string | undefined; tokenFile?: string | undefined },
  onProblem: (message: string) => void = () => {},
  checkEveryMs = 5000,
): () => string | undefined {
  const file = o.tokenFile
  if (file === undefined) return () => o.token
  let token = readAdminToken(file)
  let mtime = mtimeOf(file)
  let checked = Date.now()
  return () => {
    if (Date.now() - checked < checkEveryMs) return token
    checked = Date.now()
    const m = mtimeOf(file)
    if (m === mtime) return token
    mtime = m
    try {
      const next = readAdminToken(file)
      if (next.length < 8)
        onProblem(`${file} holds a token of ${next.length} characters; keeping the last one`)
      else token = next
    } catch (err) {
      onProblem(`cannot read ${file}: ${(err as Error).message}; keeping the last token`)
    }
    return token
  }
}

function mtimeOf(file: string): number {
  try {
    return statSync(file).mtimeMs
  } catch {
    return -1
  }
}
