/**
 * The fastify plugin that gives routes `request.session` backed by a session manager, with Tomcat's
 * cluster valves: the JvmRouteBinderValve (a cookie naming the route of a node that left the view —
 * a fail-over — gets its id rewritten to this node's route, replicated as a change of id; a route
 * naming a live member is left alone, see `routeInView`) and the ReplicationValve (at
 * the end of a request, replicate what changed unless the URL matches the filter); and Cattery's
 * ReadYourWrites valve (read-your-writes.ts: the version cookie, and a wait for the client's last
 * write before the session is looked up). The host mounts one per context; a user's own fastify app
 * can register it too (library mode).
 */
import cookie from '@fastify/cookie'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { sessionCodes } from '../session/errors.ts'
import type { SessionManager } from '../session/manager.ts'
import type { Session } from '../session/session.ts'
import {
  catchUpWithClient,
  versionCookieHeader,
  versionCookieName,
  versionCookieValue,
} from './read-your-writes.ts'
import { filterPathOf, replicationFilterOf } from './replication-filter.ts'
import { type RequestSessionState, SessionHandle } from './session-handle.ts'

/** Tomcat's example ReplicationValve filter: static resources do not change sessions. */
export const DEFAULT_REPLICATION_FILTER = '.*\\.(gif|js|jpeg|jpg|png|htm|html|css|txt)$'

export interface CookieOptions {
  name: string
  path?: string | undefined
  httpOnly: boolean
  secure: boolean
  sameSite?: 'lax' | 'strict' | 'none' | undefined
}

export interface SessionPluginOptions {
  manager: SessionManager
  jvmRoute: string
  cookie: CookieOptions
  /**
   * Requests whose whole path (without the query string, percent-escapes decoded) this matches are
   * not replicated: Tomcat's ReplicationValve filter, matched as Tomcat matches it.
   */
  replicationFilter?: RegExp | string | undefined
  /** Rewrite a foreign route to this node's (JvmRouteBinderValve). */
  jvmRouteBinder?: boolean
  /**
   * Is the member a route names in the view? The JvmRouteBinder then leaves the route alone: the
   * client was sent here by a balancer that does not stick (or moved it while its node lives), the
   * session is found whatever its route, and rewriting it would replicate a change of id and set a
   * new cookie on every such request. Without it, every foreign route is rewritten, as Tomcat does.
   */
  routeInView?: (route: string) => boolean
  /** Counters of the valves, filled in by the plugin. */
  stats?: ValveStats
}

export interface ValveStats {
  requests: number
  filtered: number
  replicated: number
  routeRewrites: number
  badCookies: number
  sendTimeMs: number
}

declare module 'fastify' {
  interface FastifyRequest {
    session: SessionHandle
    /** The session id the client sent before a fail-over rewrite (Tomcat's sessionIdAttribute). */
    originalSessionId: string | undefined
  }
}

export const newValveStats = (): ValveStats => ({
  requests: 0,
  filtered: 0,
  replicated: 0,
  routeRewrites: 0,
  badCookies: 0,
  sendTimeMs: 0,
})

const SESSION_ERROR_STATUS: Record<string, number> = {
  [sessionCodes.NOT_REPLICABLE]: 400,
  [sessionCodes.BAD_ATTRIBUTE_NAME]: 400,
  [sessionCodes.ATTRIBUTE_TOO_LARGE]: 413,
  [sessionCodes.SESSION_TOO_LARGE]: 413,
  [sessionCodes.TOO_MANY_SESSIONS]: 503,
  [sessionCodes.TOO_MANY_ATTRIBUTES]: 413,
  [sessionCodes.VALUE_TOO_DEEP]: 400,
  [sessionCodes.BAD_INACTIVE_INTERVAL]: 400,
  [sessionCodes.INVALID_SESSION]: 409,
}

const COOKIE_VALUE = /^[A-Za-z0-9_-]{8,128}(\.[A-Za-z0-9_.-]{1,64})?$/
const kState = Symbol('cattery.session')

type Decorated = FastifyRequest & { [kState]?: RequestSessionState }

async function sessionPlugin(app: FastifyInstance, o: SessionPluginOptions): Promise<void> {
  if (!app.hasRequestDecorator('cookies')) await app.register(cookie)
  const stats = o.stats ?? newValveStats()
  const { manager, jvmRoute } = o
  const name = o.cookie.name
  const rebinds = o.jvmRouteBinder !== false && manager.distributable
  const filter = replicationFilterOf(o.replicationFilter)
  // The manager says whether read-your-writes is on (replicated, and manager.readYourWrites).
  const ryw = manager.readYourWrites
  const versionName = versionCookieName(name)
  const versionCookie = versionCookieHeader({ ...o.cookie, path: o.cookie.path ?? '/' })
  const cookieOptions = {
    path: o.cookie.path ?? '/',
    httpOnly: o.cookie.httpOnly,
    secure: o.cookie.secure,
    ...(o.cookie.sameSite ? { sameSite: o.cookie.sameSite } : {}),
  }
  const newState = (): RequestSessionState => ({
    session: undefined,
    cookie: false,
    seen: undefined,
    handle: undefined,
  })
  app.decorateRequest('originalSessionId', undefined)
  app.decorateRequest('session', {
    getter(this: Decorated) {
      this[kState] ??= newState()
      const state = this[kState]
      // One handle per request, however often a route reads request.session.
      state.handle ??= new SessionHandle(manager, state, jvmRoute)
      return state.handle
    },
  })

  // A value the session refuses (not replicable, too large, too many sessions) is the client's or the
  // application's mistake, not a crash: answer with its code and message.
  app.setErrorHandler((err: Error & { code?: string; statusCode?: number }, request, reply) => {
    const status = SESSION_ERROR_STATUS[err.code ?? ''] ?? err.statusCode ?? 500
    if (status >= 500) request.log.error({ err }, 'request failed')
    return reply.code(status).send({ code: err.code ?? 'CATTERY_ERR_INTERNAL', message: err.message })
  })

  /** The session named by a well-formed cookie `raw`, after the wait for the client's last write. */
  const attach = async (request: Decorated, state: RequestSessionState, raw: string): Promise<void> => {
    if (ryw) {
      const client = catchUpWithClient(manager, raw, request.cookies[versionName])
      state.seen = client.seen
      if (client.wait) await client.wait
    }
    const session = await manager.findSession(raw)
    if (!session) return
    session.lastAccessedTime = Date.now()
    session.isNew = false
    state.session = session
    if (!rebinds) return
    const dot = raw.indexOf('.')
    const route = dot < 0 ? '' : raw.slice(dot + 1)
    if (route === jvmRoute || (route !== '' && o.routeInView?.(route))) return
    const rebound = `${dot < 0 ? raw : raw.slice(0, dot)}.${jvmRoute}`
    request.originalSessionId = raw
    if (session.id !== rebound) await manager.changeSessionId(session, rebound)
    state.cookie = true
    stats.routeRewrites++
  }

  // Callback-style hooks: a request without a session cookie, or whose session is done with at once,
  // costs no promise and no extra turn of the microtask queue.
  app.addHook('onRequest', (request: Decorated, _reply: FastifyReply, done: (err?: Error) => void) => {
    const state = newState()
    request[kState] = state
    const raw = request.cookies?.[name]
    if (raw === undefined) return done()
    if (!COOKIE_VALUE.test(raw)) {
      stats.badCookies++
      request.log.debug({ cookie: name }, 'ignoring a malformed session cookie')
      return done()
    }
    attach(request, state, raw).then(() => done(), done)
  })

  /** The response's cookies for the session it served. */
  const setCookies = (request: Decorated, reply: FastifyReply, state: RequestSessionState): void => {
    const session = state.session as Session
    if (!session.valid) {
      // Invalidated by this request (a logout): the client forgets the id, so a member that has not
      // yet heard of the invalidation cannot serve the session to its next request.
      if (request.cookies?.[name] !== undefined) {
        reply.clearCookie(name, cookieOptions)
        if (ryw) reply.clearCookie(versionName, cookieOptions)
      }
      return
    }
    if (state.cookie) reply.setCookie(name, session.id, cookieOptions)
    if (ryw) {
      const version = versionCookieValue(session, state.seen)
      if (version) reply.header('set-cookie', versionCookie(version))
    }
  }

  /** After requestCompleted: the valves' counters, and the cookies. */
  const completed = (
    request: Decorated,
    reply: FastifyReply,
    state: RequestSessionState,
    filtered: boolean,
    started: number,
    done: (err?: Error) => void,
  ): void => {
    try {
      stats.sendTimeMs += performance.now() - started
      if (!filtered) stats.replicated++
      setCookies(request, reply, state)
    } catch (err) {
      done(err as Error)
      return
    }
    done()
  }

  app.addHook(
    'onSend',
    (request: Decorated, reply: FastifyReply, _payload: unknown, done: (err?: Error) => void) => {
      const state = request[kState]
      const session = state?.session
      if (!state || !session) return done()
      stats.requests++
      if (!session.valid) {
        setCookies(request, reply, state)
        return done()
      }
      const filtered = filter ? filter.test(filterPathOf(request.url)) : false
      if (filtered) stats.filtered++
      const started = performance.now()
      const pending = manager.requestCompleted(session, !filtered)
      if (!pending) return completed(request, reply, state, filtered, started, done)
      pending.then(() => completed(request, reply, state, filtered, started, done), done)
    },
  )
}

export default fp(sessionPlugin, { name: 'cattery-session', fastify: '5.x' })
