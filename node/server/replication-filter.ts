/**
 * Tomcat's ReplicationValve filter: a request whose path matches it (static resources, by default)
 * does not replicate its session's changes. As in Tomcat (`filter.matcher(uri).matches()` on the
 * decoded request URI), the pattern of `replicationValve.filter` must match the whole path, and the
 * query string is not part of it. Matching the whole URL with an unanchored search, as before, made
 * each request with a long query string (a form's values) pay for a scan from every position of it:
 * quadratic in its length, so that a 1 KB query string cost more than the rest of the request.
 */

/**
 * A pattern (`replicationValve.filter`, or a library user's RegExp) as a whole-path match; undefined
 * for none or an empty one (nothing filtered).
 */
export function replicationFilterOf(pattern: string | RegExp | undefined): RegExp | undefined {
  const source = pattern instanceof RegExp ? pattern.source : pattern
  if (source === undefined || source === '' || source === '(?:)') return undefined
  const flags = pattern instanceof RegExp ? pattern.flags.replace(/[gy]/g, '') : ''
  return new RegExp(`^(?:${source})$`, flags)
}

/** The path a filter is matched against: without the query string, percent-escapes decoded. */
export function filterPathOf(url: string): string {
  const q = url.indexOf('?')
  const path = q < 0 ? url : url.slice(0, q)
  if (!path.includes('%')) return path
  try {
    return decodeURI(path)
  } catch {
    return path
  }
}
