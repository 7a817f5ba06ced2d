/**
 * What an application sees as `request.session`: Tomcat's HttpSession for one request. The session
 * itself is created on first need (set, id, ...), as request.getSession() does.
 */
import type { SessionManager } from '../session/manager.ts'
import type { Rank } from '../session/rank.ts'
import { newSessionIdBase, type Session } from '../session/session.ts'

export interface RequestSessionState {
  session: Session | undefined
  /** The response must carry a (new) session cookie. */
  cookie: boolean
  /** The session state the client saw last (its version cookie; read-your-writes.ts). */
  seen: Rank | undefined
  /** `request.session`, made on first use. */
  handle: SessionHandle | undefined
}

export class SessionHandle {
  readonly #manager: SessionManager
  readonly #state: RequestSessionState
  readonly #jvmRoute: string

  constructor(manager: SessionManager, state: RequestSessionState, jvmRoute: string) {
    this.#manager = manager
    this.#state = state
    this.#jvmRoute = jvmRoute
  }

  /** Is there a session for this request (without creating one)? */
  get exists(): boolean {
    return this.#state.session?.valid === true
  }

  get id(): string {
    return this.#session().id
  }

  get isNew(): boolean {
    return this.#session().isNew
  }

  get creationTime(): number {
    return this.#session().creationTime
  }

  get lastAccessedTime(): number {
    return this.#session().lastAccessedTime
  }

  get maxInactiveInterval(): number {
    return this.#session().maxInactiveInterval
  }

  set maxInactiveInterval(seconds: number) {
    this.#session().setMaxInactiveInterval(seconds)
  }

  get(name: string): unknown {
    return this.exists ? this.#state.session?.get(name) : undefined
  }

  has(name: string): boolean {
    return this.exists ? (this.#state.session?.has(name) ?? false) : false
  }

  keys(): string[] {
    return this.exists ? (this.#state.session?.keys() ?? []) : []
  }

  /** Sets an attribute; throws a coded error for a value that cannot be replicated or is too large. */
  set(name: string, value: unknown): void {
    const s = this.#session()
    s.set(name, value)
    this.#changed(s, name)
  }

  delete(name: string): boolean {
    const s = this.#state.session
    if (!s?.valid || !s.delete(name)) return false
    this.#changed(s, name)
    return true
  }

  setPrincipal(principal: string | undefined, authType?: string): void {
    this.#session().setPrincipal(principal, authType)
  }

  /** Ends the session here and on every member. */
  async invalidate(): Promise<void> {
    const s = this.#state.session
    if (s?.valid) await this.#manager.invalidate(s)
  }

  /** A new id for the same data (against session fixation), replicated as a change of id. */
  async regenerate(): Promise<string> {
    const s = this.#session()
    await this.#manager.changeSessionId(s, `${newSessionIdBase()}.${this.#jvmRoute}`)
    this.#state.cookie = true
    return s.id
  }

  /** Tells the listeners, if any (emit() makes an array of its arguments even when none listens). */
  #changed(s: Session, name: string): void {
    if (this.#manager.listenerCount('attributeChanged') > 0)
      this.#manager.emit('attributeChanged', s, name, 'local')
  }

  #session(): Session {
    const current = this.#state.session
    if (current?.valid) return current
    const s = this.#manager.createSession()
    this.#state.session = s
    this.#state.cookie = true
    return s
  }
}
