/**
 * Reads one application from its directory: a package.json whose entry (`exports`, else `main`,
 * else index.js) default-exports a fastify plugin, and whose optional `cattery` field holds the
 * context's own settings (node/config/app-config.ts). The context path comes from the application's
 * name as Tomcat derives it (context-name.ts) unless `cattery.path` says otherwise. Every failure is
 * a CatteryError whose message starts with the application's name.
 */
import { readFile, realpath } from 'node:fs/promises'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { type AppSettings, appSettings } from '../config/app-config.ts'
import type { NodeConfig } from '../config/schema.ts'
import { CatteryError, codes } from '../tribes/errors.ts'
import { ALLOWED_NAMES, contextPathOf, isContextPath } from './context-name.ts'

export interface AppPackage {
  name: string
  dir: string
  path: string
  /** package.json's version, if any (shown in /status). */
  version: string | undefined
  entry: string
  settings: AppSettings
  // biome-ignore lint/suspicious/noExplicitAny: a fastify plugin of any options type
  plugin: (...args: any[]) => unknown
}

export async function readAppPackage(name: string, dir: string, node: NodeConfig): Promise<AppPackage> {
  const fail = (code: string, why: string, cause?: unknown) =>
    new CatteryError(code, `application ${name}: ${why}`, cause === undefined ? undefined : { cause })
  const fromName = contextPathOf(name)
  if (!fromName) throw fail(codes.APP_BAD_NAME, `not a context name; allowed: ${ALLOWED_NAMES}`)

  let pkg: Record<string, unknown>
  try {
    const parsed: unknown = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8'))
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not a JSON object')
    pkg = parsed as Record<string, unknown>
  } catch (err) {
    throw fail(codes.APP_NO_PACKAGE, `cannot read package.json: ${(err as Error).message}`, err)
  }
  const settings = appSettings(name, pkg.cattery, node)
  if (settings.path !== undefined && !isContextPath(settings.path))
    throw fail(
      codes.APP_CONFIG,
      `package.json cattery.path = ${JSON.stringify(settings.path)}: must be / or /segment/... (letters, digits, '.', '_', '~', '-')`,
    )

  const relative = entryOf(pkg)
  if (relative === undefined)
    throw fail(
      codes.APP_NO_ENTRY,
      'package.json exports names no entry for import (exports ".": import or default)',
    )
  const entry = path.resolve(dir, relative)
  let real: string
  try {
    real = await realpath(entry)
  } catch {
    throw fail(
      codes.APP_NO_ENTRY,
      `its entry ${relative} does not exist (package.json exports or main, else index.js)`,
    )
  }
  const root = await realpath(dir)
  if (!real.startsWith(root + path.sep))
    throw fail(codes.APP_NO_ENTRY, `its entry ${relative} is outside the application's directory`)

  let mod: { default?: unknown }
  try {
    mod = (await import(pathToFileURL(real).href)) as { default?: unknown }
  } catch (err) {
    throw fail(codes.APP_LOAD_FAILED, `importing ${relative} failed: ${(err as Error).message}`, err)
  }
  if (typeof mod.default !== 'function')
    throw fail(
      codes.APP_NO_ENTRY,
      `its entry ${relative} has no default export that is a fastify plugin (a function), got ${typeof mod.default}`,
    )
  return {
    name,
    dir,
    path: settings.path ?? fromName,
    version: typeof pkg.version === 'string' ? pkg.version : undefined,
    entry: real,
    settings,
    plugin: mod.default as AppPackage['plugin'],
  }
}

/** The entry file, relative to the package: exports (".", then import/node/default), main, index.js. */
function entryOf(pkg: Record<string, unknown>): string | undefined {
  const exp = pkg.exports
  if (exp !== undefined && exp !== null) {
    const root =
      typeof exp === 'object' && !Array.isArray(exp) && Object.keys(exp).some((k) => k.startsWith('.'))
        ? (exp as Record<string, unknown>)['.']
        : exp
    return pick(root, 0)
  }
  return typeof pkg.main === 'string' && pkg.main ? pkg.main : 'index.js'
}

function pick(target: unknown, depth: number): string | undefined {
  if (typeof target === 'string') return target
  if (depth > 4 || typeof target !== 'object' || target === null || Array.isArray(target)) return undefined
  const t = target as Record<string, unknown>
  for (const condition of ['import', 'node', 'default']) {
    if (condition in t) {
      const found = pick(t[condition], depth + 1)
      if (found) return found
    }
  }
  return undefined
}
