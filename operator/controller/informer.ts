/**
 * A list-watch cache of one kind in one namespace (or all) that does not give up. The client's
 * informer stops for good on most errors (a refused connection, a 5xx, an apiserver restart): this
 * one starts it again with an exponential back-off, and says when its cache first became complete.
 */
import {
  type Informer,
  type KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  makeInformer,
  type ObjectCache,
} from '@kubernetes/client-node'
import type { Logger } from 'pino'
import { collectionPath, type WatchedKind } from './kinds.ts'

const RESTART_MIN_MS = 250
const RESTART_MAX_MS = 10_000

export type ChangeHandler = (obj: KubernetesObject, verb: 'add' | 'update' | 'delete') => void

export class ResilientInformer<T extends KubernetesObject = KubernetesObject> {
  readonly kind: WatchedKind
  readonly namespace: string
  readonly #informer: Informer<T> & ObjectCache<T>
  readonly #logger: Logger
  #delay = RESTART_MIN_MS
  #stopped = false
  #timer: NodeJS.Timeout | undefined
  #failedSinceStart = false
  #synced = false
  #syncWaiters: Array<() => void> = []
  /** Errors seen (the operator's metrics count them). */
  errors = 0
  /** Called on each failure (the operator counts them in its metrics). */
  onError: (() => void) | undefined

  constructor(kc: KubeConfig, kind: WatchedKind, namespace: string, onChange: ChangeHandler, logger: Logger) {
    this.kind = kind
    this.namespace = namespace
    this.#logger = logger.child({ kind: kind.kind, namespace: namespace || '*' })
    const api = KubernetesObjectApi.makeApiClient(kc)
    const list = () =>
      api.list<T>(
        kind.apiVersion,
        kind.kind,
        namespace || undefined,
        undefined,
        undefined,
        undefined,
        undefined,
        kind.labelSelector,
      )
    this.#informer = makeInformer<T>(kc, collectionPath(kind, namespace), list, kind.labelSelector)
    for (const verb of ['add', 'update', 'delete'] as const) {
      this.#informer.on(verb, (obj) => {
        this.#delay = RESTART_MIN_MS
        onChange(obj, verb)
      })
    }
    this.#informer.on('error', (err) => this.#failed(err))
  }

  get cache(): ObjectCache<T> {
    return this.#informer
  }

  get synced(): boolean {
    return this.#synced
  }

  async start(): Promise<void> {
    this.#stopped = false
    await this.#run()
  }

  /** Resolves once the cache holds a complete list. */
  waitForSync(): Promise<void> {
    if (this.#synced) return Promise.resolve()
    return new Promise((resolve) => this.#syncWaiters.push(resolve))
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    await this.#informer.stop()
  }

  async #run(): Promise<void> {
    this.#failedSinceStart = false
    await this.#informer.start().catch((err) => this.#failed(err))
    if (this.#failedSinceStart || this.#stopped) return
    this.#delay = RESTART_MIN_MS
    if (!this.#synced) {
      this.#synced = true
      for (const w of this.#syncWaiters.splice(0)) w()
    }
  }

  #failed(err: unknown): void {
    this.#failedSinceStart = true
    this.errors++
    this.onError?.()
    if (this.#stopped || this.#timer) return
    const delay = this.#delay
    this.#delay = Math.min(RESTART_MAX_MS, this.#delay * 2)
    this.#logger.warn({ err: describe(err), retryInMs: delay }, 'watch failed; restarting')
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      if (!this.#stopped) void this.#run()
    }, delay)
    this.#timer.unref()
  }
}

function describe(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { message?: string; code?: unknown; statusCode?: unknown }
    return [e.code ?? e.statusCode, e.message].filter((x) => x !== undefined).join(' ')
  }
  return String(err)
}
