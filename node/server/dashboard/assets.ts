/**
 * The dashboard's files: the page, its script and style (node/server/dashboard/public/, copied next
 * to the compiled module by `npm run build`) and uPlot's, served from node_modules (the `uplot`
 * dependency, MIT). A fixed table: nothing else under /dashboard/ is a file, nothing is fetched from
 * outside the node. Each file is read once, on its first request, and kept (about 70 KB in all).
 * The files carry no data of the node: the data comes only from /dashboard/events, behind the token.
 */
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const here = (name: string) => fileURLToPath(new URL(`./public/${name}`, import.meta.url))

interface DashboardFile {
  type: string
  path: () => string
}

const FILES: Record<string, DashboardFile> = {
  '/dashboard/': { type: 'text/html; charset=utf-8', path: () => here('index.html') },
  '/dashboard/dashboard.js': { type: 'text/javascript; charset=utf-8', path: () => here('dashboard.js') },
  '/dashboard/dashboard.css': { type: 'text/css; charset=utf-8', path: () => here('dashboard.css') },
  '/dashboard/uplot.js': {
    type: 'text/javascript; charset=utf-8',
    path: () => require.resolve('uplot/dist/uPlot.iife.min.js'),
  },
  '/dashboard/uplot.css': {
    type: 'text/css; charset=utf-8',
    path: () => require.resolve('uplot/dist/uPlot.min.css'),
  },
}

/** The page's paths: they answer without the token (they hold no data); `/dashboard` redirects. */
export const DASHBOARD_PAGE_PATHS: ReadonlySet<string> = new Set(['/dashboard', ...Object.keys(FILES)])

/**
 * The page may run only its own files and talk only to its own server: no inline script, nothing
 * from elsewhere, not framed (docs/security.md).
 */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

const cache = new Map<string, Buffer>()

/** The file served at `path` with its content type, or undefined when none is. */
export async function dashboardFile(path: string): Promise<{ type: string; body: Buffer } | undefined> {
  const f = FILES[path]
  if (!f) return undefined
  let body = cache.get(path)
  if (!body) {
    body = await readFile(f.path())
    cache.set(path, body)
  }
  return { type: f.type, body }
}

export const dashboardPaths = (): string[] => Object.keys(FILES)
