/**
 * The ReadYourWrites valve (Tomcat has none; Tomcat asks for sticky sessions instead): a request that
 * follows an acknowledged write of the same client sees that write, on whichever node it lands, in
 * the default asynchronous mode.
 *
 * Every response that leaves the session at a state the client has not seen (a delta was made, the
 * session was created, its id was rebound) also sets the version cookie, `<session cookie name>_V`
 * = `<version>.<writer>` (rank.ts), with the session cookie's path and flags. A request that brings
 * it is looked up only once the copy held here ranks at least that high: the manager waits for the
 * change in flight and fetches the copy from its writer past a short delay (catchUp, bounded by
 * manager.readYourWritesTimeout), then serves what it holds (counted as a stale read).
 *
 * The sticky path (the copy held is already that new) costs one cookie parse and one comparison.
 * The cookie is not signed: it grants nothing (the session cookie does), and a forged one can only
 * make its sender's own requests wait, at most the bound (docs/security.md).
 */
import type { CatchUp, SessionManager } from '../session/manager.ts'
import { compareRank, formatRank, parseRank, type Rank } from '../session/rank.ts'

/** The version cookie is named after the session cookie: `JSESSIONID_V`. */
const VERSION_COOKIE_SUFFIX = '_V'

export const versionCookieName = (sessionCookieName: string): string =>
  `${sessionCookieName}${VERSION_COOKIE_SUFFIX}`

/** No (valid) version cookie: nothing to wait for (shared, frozen). */
const NOT_SEEN: { seen: undefined } = Object.freeze({ seen: undefined })

/**
 * Before the session `id` is looked up: the state the client saw (undefined without a valid version
 * cookie) and, only when the copy held here is older (or missing), the wait for it.
 */
export function catchUpWithClient(
  manager: SessionManager,
  id: string,
  versionCookie: string | undefined,
): { seen: Rank | undefined; wait?: Promise<CatchUp> } {
  const seen = parseRank(versionCookie)
  if (!seen) return NOT_SEEN
  const held = manager.peekSession(id)
  if (held && compareRank(held, seen) >= 0) return { seen }
  return { seen, wait: manager.catchUp(id, seen) }
}

/** After the request: the version cookie's new value, or undefined when the client has seen it. */
export function versionCookieValue(session: Rank, seen: Rank | undefined): string | undefined {
  if (seen && seen.version === session.version && seen.writer === session.writer) return undefined
  return formatRank(session)
}

/**
 * The Set-Cookie header of the version cookie, with the session cookie's attributes (built once:
 * the value is digits, a dot and hex, so it needs no encoding).
 */
export function versionCookieHeader(cookie: {
  name: string
  path?: string | undefined
  httpOnly: boolean
  secure: boolean
  sameSite?: 'lax' | 'strict' | 'none' | undefined
}): (value: string) => string {
  const sameSite = cookie.sameSite
    ? `; SameSite=${cookie.sameSite[0]?.toUpperCase()}${cookie.sameSite.slice(1)}`
    : ''
  const suffix = `; Path=${cookie.path ?? '/'}${cookie.httpOnly ? '; HttpOnly' : ''}${cookie.secure ? '; Secure' : ''}${sameSite}`
  const name = versionCookieName(cookie.name)
  return (value) => `${name}=${value}${suffix}`
}
