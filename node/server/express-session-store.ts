/**
 * A store for express-session backed by a context's replicated session manager: an Express app
 * moves from connect-redis to Cattery by changing its store, and every member of the cluster reads
 * the sessions any member wrote.
 *
 *   import session from 'express-session'
 *   app.use(session({ secret, store: expressSessionStore(session, { manager }), ... }))
 *
 * Neither express nor express-session is imported here: the caller hands in express-session's module,
 * whose Store class the store extends (that class gives express-session's load, createSession and
 * regenerate). Each top-level key of the session (cookie included) is one attribute, kept as JSON
 * data, as connect-redis's serializer keeps it; `set` replicates only the keys whose JSON changed,
 * and the cookie's originalMaxAge becomes the session's max inactive interval (bounded by
 * session.maxTimeout). Ids are express-session's: [A-Za-z0-9_-], 8 to 128 characters.
 */
import type { SessionManager } from '../session/manager.ts'
import type { Session } from '../session/session.ts'
import { CatteryError, codes } from '../tribes/errors.ts'

/** What express-session's Store passes to and takes from a store: JSON data with a cookie. */
export interface ExpressSessionData {
  cookie: { originalMaxAge?: number | null; expires?: string | Date | null; [key: string]: unknown }
  [key: string]: unknown
}

type Callback<T = void> = (err?: unknown, value?: T) => void

/** The part of express-session's module the store needs: its (abstract) Store class. */
export interface ExpressSessionModule {
  Store: abstract new (...args: never[]) => object
}

export interface CatteryStoreOptions {
  /** The manager of the context whose sessions the store holds (Cluster.addContext). */
  manager: SessionManager
}

export interface CatteryStore {
  get(sid: string, cb: Callback<ExpressSessionData | null>): void
  set(sid: string, session: ExpressSessionData, cb?: Callback): void
  touch(sid: string, session: ExpressSessionData, cb?: Callback): void
  destroy(sid: string, cb?: Callback): void
  all(cb: Callback<ExpressSessionData[]>): void
  length(cb: Callback<number>): void
  clear(cb?: Callback): void
}

const ID = /^[A-Za-z0-9_-]{8,128}$/
const classes = new WeakMap<ExpressSessionModule['Store'], new (o: CatteryStoreOptions) => CatteryStore>()

/**
 * A store for `session({ store })`, built on `session.Store` of the express-session module given
 * (typed as that module's Store, so `session({ store })` type-checks with @types/express-session).
 */
export function expressSessionStore<M extends ExpressSessionModule>(
  session: M,
  options: CatteryStoreOptions,
): InstanceType<M['Store']> & CatteryStore {
  let Class = classes.get(session.Store)
  if (!Class) {
    Class = storeClass(session.Store)
    classes.set(session.Store, Class)
  }
  return new Class(options) as InstanceType<M['Store']> & CatteryStore
}

function storeClass(Base: ExpressSessionModule['Store']): new (o: CatteryStoreOptions) => CatteryStore {
  return class CatteryExpressStore extends Base implements CatteryStore {
    readonly #m: SessionManager

    constructor(o: CatteryStoreOptions) {
      super(...([] as never[]))
      this.#m = o.manager
    }

    get(sid: string, cb: Callback<ExpressSessionData | null>): void {
      settle(cb, async () => {
        const s = ID.test(sid) ? await this.#m.findSession(sid) : undefined
        if (!s?.valid || !s.has('cookie')) return null
        s.lastAccessedTime = Date.now()
        return snapshot(s)
      })
    }

    set(sid: string, data: ExpressSessionData, cb?: Callback): void {
      settle(cb, async () => {
        if (!ID.test(sid))
          throw new CatteryError(
            codes.STORE_BAD_SESSION_ID,
            `session id ${JSON.stringify(sid.slice(0, 40))} is not 8-128 characters of [A-Za-z0-9_-]`,
          )
        const json = JSON.parse(JSON.stringify(data)) as Record<string, unknown>
        let s = await this.#m.findSession(sid)
        if (!s?.valid) {
          s = this.#m.createSession()
          await this.#m.changeSessionId(s, sid)
        }
        s.lastAccessedTime = Date.now()
        for (const k of s.keys()) if (!Object.hasOwn(json, k) && s.delete(k)) this.#changed(s, k)
        for (const [k, v] of Object.entries(json)) {
          if (JSON.stringify(s.get(k)) === JSON.stringify(v)) continue
          s.set(k, v)
          this.#changed(s, k)
        }
        const seconds = maxInactive(data)
        if (seconds !== undefined && seconds !== s.maxInactiveInterval) s.setMaxInactiveInterval(seconds)
        await this.#m.requestCompleted(s, true)
      })
    }

    touch(sid: string, data: ExpressSessionData, cb?: Callback): void {
      settle(cb, async () => {
        const s = ID.test(sid) ? await this.#m.findSession(sid) : undefined
        if (!s?.valid) return
        s.lastAccessedTime = Date.now()
        const seconds = maxInactive(data)
        if (seconds !== undefined && seconds !== s.maxInactiveInterval) s.setMaxInactiveInterval(seconds)
        await this.#m.requestCompleted(s, true)
      })
    }

    destroy(sid: string, cb?: Callback): void {
      settle(cb, async () => {
        const s = ID.test(sid) ? await this.#m.findSession(sid) : undefined
        if (s?.valid) await this.#m.invalidate(s)
      })
    }

    all(cb: Callback<ExpressSessionData[]>): void {
      settle(cb, async () => [...this.#m.sessions()].filter((s) => s.valid && s.has('cookie')).map(snapshot))
    }

    length(cb: Callback<number>): void {
      settle(cb, async () => this.#m.sessionCount())
    }

    clear(cb?: Callback): void {
      settle(cb, async () => {
        for (const s of [...this.#m.sessions()]) await this.#m.invalidate(s)
      })
    }

    #changed(s: Session, name: string): void {
      this.#m.emit('attributeChanged', s, name, 'local')
    }
  }
}

/** A copy of the session's data that express-session may change freely. */
function snapshot(s: Session): ExpressSessionData {
  const out: Record<string, unknown> = {}
  for (const k of s.keys()) out[k] = structuredClone(s.get(k))
  return out as ExpressSessionData
}

/** Seconds of the cookie's lifetime (express-session's cookie.maxAge), or undefined for a browser-session cookie. */
function maxInactive(data: ExpressSessionData): number | undefined {
  const ms = data.cookie?.originalMaxAge
  return typeof ms === 'number' && ms > 0 ? Math.ceil(ms / 1000) : undefined
}

function settle<T>(cb: Callback<T> | undefined, fn: () => Promise<T>): void {
  fn().then(
    (value) => cb?.(null, value),
    (err: unknown) => cb?.(err),
  )
}
