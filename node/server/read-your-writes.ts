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
export const VERSION_COOKIE_SUFFIX = '_V'

export const versionCookieName = (sessionCookieName: string): string =>
  `${sessionCookieName}${VERSION_COOKIE_SUFFIX}`

/**
 * Before the session `id` is looked up: the state the client saw (undefined without a valid version
 * cookie), once the copy held here is at least that new or the wait is over.
 */
export async function catchUpWithClient(
  manager: SessionManager,
  id: string,
  versionCookie: string | undefined,
): Promise<{ seen: Rank | undefined; outcome: CatchUp | undefined }> {
  const seen = parseRank(versionCookie)
  if (!seen) return { seen, outcome: undefined }
  const held = manager.peekSession(id)
  if (held && compareRank(held, seen) >= 0) return { seen, outcome: 'current' }
  return { seen, outcome: await manager.catchUp(id, seen) }
}

/** After the request: the version cookie's new value, or undefined when the client has seen it. */
export function versionCookieValue(session: Rank, seen: Rank | undefined): string | undefined {
  if (seen && seen.version === session.version && seen.writer === session.writer) return undefined
  return formatRank(session)
}
