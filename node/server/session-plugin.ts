/**
 * The fastify plugin that gives routes `request.session` backed by a session manager, with Tomcat's
 * cluster valves: the JvmRouteBinderValve (a cookie naming another node's route — a fail-over — gets
 * its id rewritten to this node's route, replicated as a change of id) and the ReplicationValve (at
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
import {
  catchUpWithClient,
  versionCookieHeader,
  versionCookieName,
  versionCookieValue,
} from './read-your-writes.ts'
import { type RequestSessionState, SessionHandle } from './session-handle.ts'

/** Tomcat's example ReplicationValve filter: static resources do not change sessions. */
export const DEFAULT_REPLICATION_FILTER = '.*\\.(gif|js|jpeg|jpg|png|htm|html|css|txt)$'
/** Tomcat's JvmRouteBinderValve sessionIdAttribute. */
export const DEFAULT_SESSION_ID_ATTRIBUTE = 'org.apache.catalina.ha.session.JvmRouteOrignalSessionID'

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
  /** URLs (path + query) matching this are not replicated. */
  replicationFilter?: RegExp | undefined
  /** Rewrite a foreign route to this node's (JvmRouteBinderValve). */
  jvmRouteBinder?: boolean
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
  // The manager says whether read-your-writes is on (replicated, and manager.readYourWrites).
  const ryw = o.manager.readYourWrites
  const versionName = versionCookieName(o.cookie.name)
  const versionCookie = versionCookieHeader({ ...o.cookie, path: o.cookie.path ?? '/' })
  const cookieOptions = {
    path: o.cookie.path ?? '/',
    httpOnly: o.cookie.httpOnly,
    secure: o.cookie.secure,
    ...(o.cookie.sameSite ? { sameSite: o.cookie.sameSite } : {}),
  }
  app.decorateRequest('originalSessionId', undefined)
  app.decorateRequest('session', {
    getter(this: Decorated) {
      if (!this[kState]) this[kState] = { session: undefined, cookie: false }
      return new SessionHandle(o.manager, this[kState], o.jvmRoute)
    },
  })

  // A value the session refuses (not replicable, too large, too many sessions) is the client's or the
  // application's mistake, not a crash: answer with its code and message.
  app.setErrorHandler((err: Error & { code?: string; statusCode?: number }, request, reply) => {
    const status = SESSION_ERROR_STATUS[err.code ?? ''] ?? err.statusCode ?? 500
    if (status >= 500) request.log.error({ err }, 'request failed')
    return reply.code(status).send({ code: err.code ?? 'CATTERY_ERR_INTERNAL', message: err.message })
  })

  app.addHook('onRequest', async (request: Decorated) => {
    const state: RequestSessionState = { session: undefined, cookie: false }
    request[kState] = state
    const raw = request.cookies?.[o.cookie.name]
    if (raw === undefined) return
    if (!COOKIE_VALUE.test(raw)) {
      stats.badCookies++
      request.log.debug({ cookie: o.cookie.name }, 'ignoring a malformed session cookie')
      return
    }
    if (ryw) {
      const client = catchUpWithClient(o.manager, raw, request.cookies[versionName])
      state.seen = client.seen
      if (client.wait) await client.wait
    }
    const session = await o.manager.findSession(raw)
    if (!session) return
    session.lastAccessedTime = Date.now()
    session.isNew = false
    state.session = session
    const dot = raw.indexOf('.')
    const route = dot < 0 ? '' : raw.slice(dot + 1)
    if (o.jvmRouteBinder !== false && route !== o.jvmRoute && o.manager.distributable) {
      const base = dot < 0 ? raw : raw.slice(0, dot)
      const rebound = `${base}.${o.jvmRoute}`
      request.originalSessionId = raw
      if (session.id !== rebound) await o.manager.changeSessionId(session, rebound)
      state.cookie = true
      stats.routeRewrites++
    }
  })

  app.addHook('onSend', async (request: Decorated, reply: FastifyReply, payload) => {
    const state = request[kState]
    const session = state?.session
    if (!state || !session) return payload
    stats.requests++
    if (session.valid) {
      const filtered = o.replicationFilter?.test(request.url) ?? false
      if (filtered) stats.filtered++
      const started = performance.now()
      await o.manager.requestCompleted(session, !filtered)
      stats.sendTimeMs += performance.now() - started
      if (!filtered) stats.replicated++
    }
    if (!session.valid) {
      // Invalidated by this request (a logout): the client forgets the id, so a member that has not
      // yet heard of the invalidation cannot serve the session to its next request.
      if (request.cookies?.[o.cookie.name] !== undefined) {
        reply.clearCookie(o.cookie.name, cookieOptions)
        if (ryw) reply.clearCookie(versionName, cookieOptions)
      }
      return payload
    }
    if (state.cookie) reply.setCookie(o.cookie.name, session.id, cookieOptions)
    if (ryw) {
      const version = versionCookieValue(session, state.seen)
      if (version) reply.header('set-cookie', versionCookie(version))
    }
    return payload
  })
}

export default fp(sessionPlugin, { name: 'cattery-session', fastify: '5.x' })
