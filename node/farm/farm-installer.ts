/**
 * This member's side of a farm deploy: unpacks a staged archive into deployDir/<name>/<digest prefix>
 * (a fresh directory renamed into place: node/deploy/archive.ts, with its bounds) and deploys it as a
 * context through Contexts.deploy (a redeploy keeps the context's sessions and lets requests in flight
 * finish); undeploys a context and removes its directory. Knows which digest it runs of each name. A
 * deploy that fails removes its directory and leaves what ran before running.
 */
import { mkdir, rm, rmdir } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from 'pino'
import type { NodeConfig } from '../config/schema.ts'
import { type ArchiveLimits, unpackArchive } from '../deploy/archive.ts'
import { readAppPackage } from '../server/app-package.ts'
import type { Contexts } from '../server/contexts.ts'
import { managerSettings } from '../server/manager-settings.ts'
import { codes } from '../tribes/errors.ts'

export interface FarmInstallerOptions {
  config: NodeConfig
  contexts: Contexts
  deployDir: string
  limits: ArchiveLimits
  logger: Logger
}

export class FarmInstaller {
  readonly #o: FarmInstallerOptions
  /** What this member runs from the farm, by name. */
  readonly #running = new Map<string, { digest: string; dir: string }>()

  constructor(o: FarmInstallerOptions) {
    this.#o = o
  }

  /** The digest of `name` this member runs, if it runs it. */
  digestOf(name: string): string | undefined {
    return this.#running.get(name)?.digest
  }

  /** Unpacks the staged archive and deploys it as the context `name` (a redeploy keeps its sessions). */
  async install(name: string, digest: string, file: string): Promise<void> {
    const { config, contexts, deployDir, limits, logger } = this.#o
    const dir = path.join(deployDir, name, digest.slice(0, 16))
    const previous = this.#running.get(name)
    try {
      await mkdir(path.dirname(dir), { recursive: true })
      await unpackArchive(file, dir, limits, name)
      const app = await readAppPackage(name, dir, config)
      await contexts.deploy({
        name,
        path: app.path,
        settings: managerSettings(config.name, app.settings),
        cookie: { ...app.settings.session.cookie, path: app.settings.session.cookie.path ?? app.path },
        plugin: app.plugin,
        source: `farm ${digest.slice(0, 12)}`,
        version: app.version,
      })
    } catch (err) {
      if (previous?.dir !== dir) {
        await rm(dir, { recursive: true, force: true })
        if (!previous) await rmdir(path.dirname(dir)).catch(() => {})
      }
      throw err
    }
    this.#running.set(name, { digest, dir })
    if (previous && previous.dir !== dir) await rm(previous.dir, { recursive: true, force: true })
    logger.info({ event: 'farm-deployed', app: name, digest }, 'farm application deployed')
  }

  /** Undeploys `name` and removes its directory; resolves false when this member does not run it. */
  async uninstall(name: string): Promise<boolean> {
    if (!this.#running.has(name)) return false
    await this.#o.contexts.undeploy(name).catch((err: Error & { code?: string }) => {
      if (err.code !== codes.APP_NOT_DEPLOYED) throw err
    })
    this.#running.delete(name)
    await rm(path.join(this.#o.deployDir, name), { recursive: true, force: true })
    this.#o.logger.info({ event: 'farm-undeployed', app: name }, 'farm application undeployed')
    return true
  }
}
