/**
 * The SessionCluster controller: informers on SessionClusters and what they own in the watched
 * namespaces (every replica keeps them warm), a work queue of cluster keys, and one worker that runs
 * the reconciler while this replica leads. A change to an owned object or a pod enqueues its owner
 * (by the instance label); a periodic resync enqueues every cluster. While leading, the member prober
 * asks the ready pods of clusters with applications what they run, and enqueues a cluster when an
 * answer changes.
 */
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node'
import type { Logger } from 'pino'
import type { SessionCluster } from '../api/session-cluster.ts'
import { ports } from '../resources/meta.ts'
import type { OperatorLocation } from '../resources/network-policy.ts'
import { Applier } from './apply.ts'
import { EventRecorder } from './events.ts'
import { ResilientInformer } from './informer.ts'
import { OWNED_KINDS, SESSION_CLUSTERS } from './kinds.ts'
import { MemberProber } from './member-prober.ts'
import type { OperatorMetrics } from './metrics.ts'
import { type ClusterState, Reconciler } from './reconciler.ts'
import type { PodView } from './status.ts'
import { WorkQueue } from './work-queue.ts'

const INSTANCE = 'app.kubernetes.io/instance'
const RESYNC_MS = 5 * 60_000
const NAME = 'sessioncluster'

export interface ControllerOptions {
  /** Namespaces to watch; [''] for all. */
  namespaces: string[]
  logger: Logger
  metrics: OperatorMetrics
  /** Where the operator's pods are (their NetworkPolicy rule to the nodes' admin port). */
  operator?: OperatorLocation | undefined
}

export class SessionClusterController {
  readonly #logger: Logger
  readonly #metrics: OperatorMetrics
  readonly #queue = new WorkQueue()
  readonly #clusters: ResilientInformer[] = []
  readonly #owned = new Map<string, ResilientInformer[]>()
  readonly #reconciler: Reconciler
  readonly #prober: MemberProber
  #running = false
  #worker: Promise<void> | undefined
  #resync: NodeJS.Timeout | undefined

  constructor(kc: KubeConfig, options: ControllerOptions) {
    this.#logger = options.logger
    this.#metrics = options.metrics
    for (const ns of options.namespaces) {
      const clusters = new ResilientInformer(kc, SESSION_CLUSTERS, ns, (o) => this.#enqueue(o), this.#logger)
      this.#clusters.push(clusters)
      for (const kind of OWNED_KINDS) {
        const list = this.#owned.get(kind.kind) ?? []
        list.push(new ResilientInformer(kc, kind, ns, (o) => this.#enqueueOwner(o), this.#logger))
        this.#owned.set(kind.kind, list)
      }
    }
    for (const i of this.#informers()) i.onError = () => this.#metrics.watchErrors.inc({ kind: i.kind.kind })
    const state: ClusterState = {
      cluster: (ns, name) => this.#find(this.#clusters, ns, name) as SessionCluster | undefined,
      owned: (kind, ns, name) => this.#find(this.#owned.get(kind) ?? [], ns, name),
      pods: (ns, instance) =>
        this.#informersFor(this.#owned.get('Pod') ?? [], ns)
          .flatMap((i) => i.cache.list(ns))
          .filter((p) => p.metadata?.labels?.[INSTANCE] === instance) as PodView[],
    }
    this.#prober = new MemberProber({
      logger: this.#logger,
      port: ports.admin,
      onChange: (key) => this.#queue.add(key),
    })
    this.#prober.stop() // asks nothing until this replica leads
    this.#reconciler = new Reconciler(
      state,
      new Applier(kc),
      new EventRecorder(kc, this.#logger),
      this.#logger,
      {
        prober: this.#prober,
        operator: options.operator,
      },
    )
  }

  #informers(): ResilientInformer[] {
    return [...this.#clusters, ...[...this.#owned.values()].flat()]
  }

  /** Starts the informers (every replica, so a standby takes over with warm caches). */
  async startWatching(): Promise<void> {
    await Promise.all(this.#informers().map((i) => i.start()))
  }

  /** Every cache holds a complete list (the operator's /readyz). */
  get synced(): boolean {
    return this.#informers().every((i) => i.synced)
  }

  get watchErrors(): number {
    return this.#informers().reduce((n, i) => n + i.errors, 0)
  }

  /** Leader: waits for the caches, enqueues every cluster, and reconciles until stopped. */
  async startReconciling(): Promise<void> {
    if (this.#running) return
    this.#running = true
    this.#prober.start()
    await Promise.all(this.#informers().map((i) => i.waitForSync()))
    if (!this.#running) return
    for (const i of this.#clusters) for (const o of i.cache.list()) this.#enqueue(o)
    this.#resync = setInterval(() => {
      for (const i of this.#clusters) for (const o of i.cache.list()) this.#enqueue(o)
    }, RESYNC_MS).unref()
    this.#worker = this.#work()
  }

  stopReconciling(): void {
    this.#running = false
    clearInterval(this.#resync)
    this.#prober.stop()
  }

  async stop(): Promise<void> {
    this.stopReconciling()
    this.#queue.shutDown()
    await this.#worker
    await Promise.all(this.#informers().map((i) => i.stop()))
  }

  async #work(): Promise<void> {
    for (;;) {
      const key = await this.#queue.get()
      if (key === undefined) return
      this.#metrics.queueDepth.set({ name: NAME }, this.#queue.length)
      if (!this.#running) {
        this.#queue.done(key)
        this.#queue.add(key) // kept for when this replica leads again
        return
      }
      const [ns, name] = key.split('/') as [string, string]
      const end = this.#metrics.reconcileSeconds.startTimer({ controller: NAME })
      try {
        await this.#reconciler.reconcile(ns, name)
        this.#queue.forget(key)
        this.#metrics.reconciles.inc({ controller: NAME, result: 'success' })
      } catch (err) {
        const retryInMs = this.#queue.addRateLimited(key)
        this.#metrics.reconciles.inc({ controller: NAME, result: 'error' })
        this.#metrics.reconcileErrors.inc({ controller: NAME })
        this.#logger.warn({ cluster: key, err: (err as Error).message, retryInMs }, 'reconcile failed')
      } finally {
        end()
        this.#queue.done(key)
      }
    }
  }

  #enqueue(o: KubernetesObject): void {
    if (o.metadata?.name) this.#queue.add(`${o.metadata.namespace}/${o.metadata.name}`)
  }

  #enqueueOwner(o: KubernetesObject): void {
    const owner = o.metadata?.labels?.[INSTANCE]
    if (owner && o.metadata?.namespace) this.#queue.add(`${o.metadata.namespace}/${owner}`)
  }

  #informersFor(list: ResilientInformer[], ns: string): ResilientInformer[] {
    return list.filter((i) => i.namespace === '' || i.namespace === ns)
  }

  #find(list: ResilientInformer[], ns: string, name: string): KubernetesObject | undefined {
    for (const i of this.#informersFor(list, ns)) {
      const o = i.cache.get(name, ns)
      if (o) return o
    }
    return undefined
  }
}
