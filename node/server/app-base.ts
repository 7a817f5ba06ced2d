/**
 * Tomcat's appBase, read once at start: every directory and every `.tgz` (or `.tar.gz`) in apps.dir
 * is an application named after it (`shop#v2.tgz` → shop#v2 → /shop/v2). Archives are unpacked into
 * apps.workDir/<name>/<digest> (node/deploy/archive.ts, with its bounds). Applications are deployed in
 * the order of their names; one that cannot be read, loaded or registered, or whose name or path
 * another has taken, is refused — logged and listed with its code and reason — and the others serve.
 * Only an app base that cannot be read at all stops the node (CATTERY_ERR_APPS_DIR).
 */
import { readdir, stat } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from 'pino'
import type { NodeConfig } from '../config/schema.ts'
import { type ArchiveLimits, unpackArchive } from '../deploy/archive.ts'
import { CatteryError, codes } from '../tribes/errors.ts'
import { readAppPackage } from './app-package.ts'
import { appNameOf } from './context-name.ts'
import type { Contexts } from './contexts.ts'
import { managerSettings } from './manager-settings.ts'

export interface RefusedApp {
  name: string
  /** The directory or archive in the app base. */
  source: string
  code: string
  reason: string
}

export interface AppBaseOptions {
  dir: string
  workDir: string
  limits: ArchiveLimits
  config: NodeConfig
  contexts: Contexts
  logger: Logger
}

const ARCHIVE = /\.(tgz|tar\.gz)$/

/** Deploys the app base's applications into `contexts`; resolves with those refused. */
export async function loadAppBase(o: AppBaseOptions): Promise<RefusedApp[]> {
  let names: string[]
  try {
    names = (await readdir(o.dir)).filter((n) => !n.startsWith('.')).sort()
  } catch (err) {
    throw new CatteryError(
      codes.APPS_DIR,
      `cannot read the app base apps.dir ${o.dir}: ${(err as Error).message}`,
      {
        cause: err,
      },
    )
  }
  const refused: RefusedApp[] = []
  const seen = new Map<string, string>()
  for (const file of names) {
    const source = path.join(o.dir, file)
    const kind = await stat(source).then(
      (s) => (s.isDirectory() ? 'dir' : s.isFile() && ARCHIVE.test(file) ? 'archive' : undefined),
      () => undefined,
    )
    if (!kind) continue
    const name = appNameOf(file)
    try {
      const other = seen.get(name)
      if (other)
        throw new CatteryError(
          codes.APP_PATH_CLASH,
          `application ${name}: both ${other} and ${file} are named ${name} in the app base`,
        )
      seen.set(name, file)
      const dir = kind === 'dir' ? source : await unpack(source, name, o)
      const app = await readAppPackage(name, dir, o.config)
      await o.contexts.deploy({
        name,
        path: app.path,
        settings: managerSettings(o.config.name, app.settings),
        cookie: { ...app.settings.session.cookie, path: app.settings.session.cookie.path ?? app.path },
        plugin: app.plugin,
        source,
        version: app.version,
      })
      o.logger.info({ event: 'app-deployed', app: name, path: app.path, source }, 'application deployed')
    } catch (err) {
      const e = err as Error & { code?: string }
      const r = { name, source, code: e.code ?? codes.APP_REGISTER_FAILED, reason: e.message }
      refused.push(r)
      o.logger.error({ event: 'app-refused', ...r }, 'application refused')
    }
  }
  return refused
}

/** Unpacks an archive into workDir/<name>/<digest>: another version gets a directory (and modules) of its own. */
async function unpack(archive: string, name: string, o: AppBaseOptions): Promise<string> {
  let dir = ''
  await unpackArchive(
    archive,
    (sha256) => {
      dir = path.join(o.workDir, name, sha256.slice(0, 16))
      return dir
    },
    o.limits,
    name,
  )
  return dir
}
