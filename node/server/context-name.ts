/**
 * Context names and paths as Tomcat names them: the application `ROOT` is served at `/`, `shop` at
 * `/shop`, `shop#v2` at `/shop/v2`. A segment is letters, digits and `.`, `_`, `~`, `-` (not `.` or
 * `..`), so a name is also a safe file name and a path needs no escaping. Pure functions.
 */

const SEGMENT = /^[A-Za-z0-9._~-]{1,100}$/
const MAX_SEGMENTS = 16

const segmentOk = (s: string) => SEGMENT.test(s) && s !== '.' && s !== '..'

/** The context path of an application named `name`, or undefined when `name` is not a context name. */
export function contextPathOf(name: string): string | undefined {
  if (name === 'ROOT') return '/'
  const parts = name.split('#')
  if (parts.length > MAX_SEGMENTS || !parts.every(segmentOk)) return undefined
  return `/${parts.join('/')}`
}

/** `/` or `/a/b` with segments as in names; what `cattery.path` in an application's package.json may say. */
export function isContextPath(path: string): boolean {
  if (path === '/') return true
  if (!path.startsWith('/')) return false
  const parts = path.slice(1).split('/')
  return parts.length <= MAX_SEGMENTS && parts.every(segmentOk)
}

/** The application name of an archive or directory in an app base: `shop.tgz` → `shop`. */
export function appNameOf(fileName: string): string {
  return fileName.replace(/\.(tgz|tar\.gz)$/, '')
}

/** Does the request path `url` (query included) fall inside the context at `path`? */
export function inContext(path: string, url: string): boolean {
  if (path === '/') return true
  if (!url.startsWith(path)) return false
  const next = url.charCodeAt(path.length)
  return Number.isNaN(next) || next === 47 /* / */ || next === 63 /* ? */
}

export const ALLOWED_NAMES =
  "ROOT, or segments of letters, digits, '.', '_', '~', '-' joined by '#' (shop, shop#v2)"
