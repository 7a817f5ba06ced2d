/**
 * The host's contexts (Tomcat's Host with its Context children): each application is a context with
 * its own fastify instance, its own session manager and valves, mounted at its path. A request goes to
 * the context with the longest path that contains it. Because each context is an instance of its own,
 * an application that fails to register takes nothing else down, and contexts can be deployed,
 * redeployed and undeployed while the node serves (the farm deployer's needs):
 *  - deploy of a new name: its manager is created (and started, with state transfer, when the host
 *    runs already) before the context takes requests;
 *  - deploy of a deployed name (redeploy): the new instance is registered and made ready first; then
 *    requests go to it, the old one finishes the requests it holds (at most drainTimeoutMs) and is
 *    closed; the manager, and so every session, is kept. A manager cannot take new settings while it
 *    holds sessions, so a redeploy whose manager settings differ from the running ones (its kind, a
 *    limit, a timeout, send options: node/server/manager-changes.ts) is refused before anything
 *    changes (CATTERY_ERR_APP_SETTINGS_CHANGED, naming each change) and the running version serves on;
 *    the cookie settings belong to the instance and change with it;
 *  - undeploy: requests stop going to it, those in flight finish, the instance is closed and its
 *    manager stopped.
 * A path taken by another application is refused (CATTERY_ERR_APP_PATH_CLASH).
 */
import http from 'node:http'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Cluster } from '../cluster/cluster.ts'
import type { ClusterManager } from '../session/cluster-manager.ts'
import type { SessionManager } from '../session/manager.ts'
import type { ManagerSettings } from '../session/managers.ts'
import { CatteryError, codes } from '../tribes/errors.ts'
import { inContext } from './context-name.ts'
import { describeChanges, managerChanges } from './manager-changes.ts'
import sessionPlugin, { type CookieOptions, newValveStats, type ValveStats } from './session-plugin.ts'

/** What an application's plugin receives as its options. */
export interface AppOptions {
  /** The application's name (ROOT, shop, shop#v2). */
  name: string
  /** Its context path (/, /shop, /shop/v2). */
  path: string
  /** This node's jvmRoute (its member name). */
  jvmRoute: string
  /** The context's session manager: listeners ('sessionCreated', 'attributeChanged', ...), counts. */
  manager: SessionManager
}

export interface ContextSpec {
  name: string
  path: string
  settings: ManagerSettings
  cookie: CookieOptions
  // biome-ignore lint/suspicious/noExplicitAny: a fastify plugin of any options type
  plugin: (...args: any[]) => unknown
  /** Where it came from, for /status (a directory or an archive). */
  source?: string
  version?: string | undefined
}

export interface ContextInfo {
  name: string
  path: string
  source: string | undefined
  version: string | undefined
  inFlight: number
}

export interface ContextsOptions {
  cluster: Cluster
  logger: Logger
  jvmRoute: string
  /** Tomcat's ReplicationValve filter (replicationValve.filter). */
  replicationFilter: string
  jvmRouteBinder: boolean
  /** Valve counters by context path, read by the admin server. */
  valves: Map<string, ValveStats>
  /** How long an undeployed or replaced context may take to finish its requests (default 30 s). */
  drainTimeoutMs?: number
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void

interface Context {
  readonly spec: ContextSpec
  readonly app: FastifyInstance
  readonly handler: Handler
  readonly manager: ClusterManager
  inFlight: number
  /** Bound once: counts a request out (no closure per request). */
  readonly done: () => void
  idle: (() => void) | undefined
}

export class Contexts {
  readonly #o: ContextsOptions
  /** By name. */
  readonly #contexts = new Map<string, Context>()
  /** Longest path first: the routing order. */
  #ordered: Context[] = []
  #started = false
  #closing = false

  constructor(o: ContextsOptions) {
    this.#o = o
  }

  /** Deploys (or redeploys) `spec`; rejects with a coded error naming the application. */
  async deploy(spec: ContextSpec): Promise<void> {
    const clash = [...this.#contexts.values()].find(
      (c) => c.spec.path === spec.path && c.spec.name !== spec.name,
    )
    if (clash)
      throw new CatteryError(
        codes.APP_PATH_CLASH,
        `application ${spec.name}: the path ${spec.path} is already served by application ${clash.spec.name}`,
      )
    const previous = this.#contexts.get(spec.name)
    if (previous && previous.spec.path === spec.path) {
      const changes = managerChanges(previous.spec.settings, spec.settings)
      if (changes.length)
        throw new CatteryError(
          codes.APP_SETTINGS_CHANGED,
          `application ${spec.name}: the new version's session manager settings differ from the running one's (${describeChanges(changes)}); a redeploy keeps the running manager and its sessions, which cannot take new settings, so the running version still serves (undeploy it, then deploy the new version: its sessions end)`,
        )
    }
    if (previous && previous.spec.path !== spec.path) await this.undeploy(spec.name)
    const kept = previous && previous.spec.path === spec.path ? previous.manager : undefined
    const manager = kept ?? this.#o.cluster.addContext(spec.path, spec.settings)
    let context: Context
    try {
      context = await this.#build(spec, manager)
      if (!kept && this.#started) await manager.start()
    } catch (err) {
      if (!kept) {
        this.#o.cluster.removeContext(spec.path)
        this.#o.valves.delete(spec.path)
      }
      throw err
    }
    this.#contexts.set(spec.name, context)
    this.#reorder()
    if (kept && previous) await this.#retire(previous)
  }

  /** Undeploys the application `name`: requests in flight finish, then its manager stops. */
  async undeploy(name: string): Promise<void> {
    const c = this.#contexts.get(name)
    if (!c) throw new CatteryError(codes.APP_NOT_DEPLOYED, `application ${name} is not deployed`)
    this.#contexts.delete(name)
    this.#reorder()
    await this.#retire(c)
    await c.manager.stop()
    this.#o.cluster.removeContext(c.spec.path)
    this.#o.valves.delete(c.spec.path)
  }

  /** The host is starting its managers now: contexts deployed from here on start theirs at deploy. */
  markStarted(): void {
    this.#started = true
  }

  /**
   * Is a member named `route` in the view? Asked by the JvmRouteBinder on most requests behind a
   * balancer that does not stick, so the names are kept per view version, not listed per request.
   */
  readonly #routeInView = (route: string): boolean => {
    const channel = this.#o.cluster.channel
    if (this.#viewNames.version !== channel.viewVersion)
      this.#viewNames = { version: channel.viewVersion, names: new Set(channel.members().map((m) => m.name)) }
    return this.#viewNames.names.has(route)
  }
  #viewNames: { version: number; names: ReadonlySet<string> } = { version: -1, names: new Set() }

  /** The HTTP server's request handler. */
  readonly handle: Handler = (req, res) => {
    if (this.#closing) return answer(res, 503, codes.NODE_STOPPING, 'the node is stopping', true)
    const url = req.url ?? '/'
    for (const c of this.#ordered) {
      if (!inContext(c.spec.path, url)) continue
      c.inFlight++
      // 'close' comes once per response: on() spares the wrapper once() makes per request.
      res.on('close', c.done)
      c.handler(req, res)
      return
    }
    answer(res, 404, codes.NO_CONTEXT, `no application serves ${url.split('?', 1)[0]}`)
  }

  list(): ContextInfo[] {
    return [...this.#contexts.values()].map((c) => ({
      name: c.spec.name,
      path: c.spec.path,
      source: c.spec.source,
      version: c.spec.version,
      inFlight: c.inFlight,
    }))
  }

  /** Closes every context's instance once its requests are done (the host stopped taking requests). */
  async close(): Promise<void> {
    this.#closing = true
    const all = [...this.#contexts.values()]
    this.#contexts.clear()
    this.#reorder()
    await Promise.all(all.map((c) => this.#retire(c)))
  }

  async #build(spec: ContextSpec, manager: ClusterManager): Promise<Context> {
    let handler: Handler | undefined
    const app = Fastify({
      loggerInstance: this.#o.logger.child(
        { component: 'http', context: spec.name },
        { level: 'warn' },
      ) as FastifyBaseLogger,
      // The host's server accepts connections; this instance only routes what it is handed.
      serverFactory: (h) => {
        handler = h as Handler
        return http.createServer()
      },
    }) as unknown as FastifyInstance
    const stats = this.#o.valves.get(spec.path) ?? newValveStats()
    this.#o.valves.set(spec.path, stats)
    const options: AppOptions = { name: spec.name, path: spec.path, jvmRoute: this.#o.jvmRoute, manager }
    app.register(
      async (ctx) => {
        await ctx.register(sessionPlugin, {
          manager,
          jvmRoute: this.#o.jvmRoute,
          cookie: spec.cookie,
          replicationFilter: this.#o.replicationFilter,
          jvmRouteBinder: this.#o.jvmRouteBinder,
          routeInView: this.#routeInView,
          stats,
        })
        await ctx.register(spec.plugin as Parameters<typeof ctx.register>[0], options)
      },
      { prefix: spec.path === '/' ? '' : spec.path },
    )
    try {
      await app.ready()
    } catch (err) {
      await app.close().catch(() => {})
      throw new CatteryError(
        codes.APP_REGISTER_FAILED,
        `application ${spec.name}: registering its plugin failed: ${(err as Error).message}`,
        { cause: err },
      )
    }
    if (!handler)
      throw new CatteryError(codes.APP_REGISTER_FAILED, `application ${spec.name}: no request handler`)
    const context: Context = {
      spec,
      app,
      handler,
      manager,
      inFlight: 0,
      idle: undefined,
      done: () => {
        context.inFlight--
        if (context.inFlight === 0) context.idle?.()
      },
    }
    return context
  }

  /** Waits until `c` has no request in flight (at most drainTimeoutMs), then closes its instance. */
  async #retire(c: Context): Promise<void> {
    if (c.inFlight > 0) {
      const timeout = this.#o.drainTimeoutMs ?? 30_000
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.#o.logger.warn(
            { event: 'context-drain-timeout', context: c.spec.name, inFlight: c.inFlight },
            'requests still in flight when the context was closed',
          )
          resolve()
        }, timeout)
        c.idle = () => {
          clearTimeout(t)
          resolve()
        }
      })
    }
    await c.app.close()
  }

  #reorder(): void {
    this.#ordered = [...this.#contexts.values()].sort((a, b) => b.spec.path.length - a.spec.path.length)
  }
}

function answer(
  res: http.ServerResponse,
  status: number,
  code: string,
  message: string,
  close = false,
): void {
  const body = JSON.stringify({ code, message })
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    ...(close ? { connection: 'close' } : {}),
  })
  res.end(body)
}
