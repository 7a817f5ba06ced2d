/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's: the holder renews the lease every
 * retry period; another candidate takes it once it has not seen the lease renewed for a lease duration
 * (measured on its own clock, so clocks need not agree); a holder that cannot renew within the renew
 * deadline stops leading; a holder that stops releases the lease, so a standby takes over at its next
 * retry instead of after the lease duration. Optimistic concurrency (resourceVersion) makes two
 * candidates racing for one lease end with one holder.
 */
import { CoordinationV1Api, type KubeConfig, type V1Lease } from '@kubernetes/client-node'
import type { Logger } from 'pino'

export interface LeaderElectionOptions {
  namespace: string
  name: string
  identity: string
  leaseDurationMs: number
  renewDeadlineMs: number
  retryPeriodMs: number
}

export interface LeaderCallbacks {
  startedLeading(): void
  stoppedLeading(): void
}

export const leaderElectionDefaults = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
}

/**
 * MicroTime as the API server wants it (RFC 3339 with microseconds). The client's types say Date but
 * would serialize milliseconds, which the API refuses; the string passes through as it is.
 */
const microTime = (d: Date) => d.toISOString().replace('Z', '000Z') as unknown as Date

export class LeaderElector {
  readonly #api: CoordinationV1Api
  readonly #o: LeaderElectionOptions
  readonly #cb: LeaderCallbacks
  readonly #logger: Logger
  #leading = false
  #stopped = false
  #timer: NodeJS.Timeout | undefined
  #lastRenew = 0
  /** The lease record last seen and when (our clock) it last changed. */
  #observed: { record: string; at: number } | undefined

  constructor(kc: KubeConfig, options: LeaderElectionOptions, callbacks: LeaderCallbacks, logger: Logger) {
    this.#api = kc.makeApiClient(CoordinationV1Api)
    this.#o = options
    this.#cb = callbacks
    this.#logger = logger.child({ lease: `${options.namespace}/${options.name}`, identity: options.identity })
  }

  get leading(): boolean {
    return this.#leading
  }

  start(): void {
    this.#stopped = false
    void this.#tick()
  }

  /** Stops trying; a leader releases the lease so another candidate takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    if (!this.#leading) return
    this.#setLeading(false)
    try {
      const lease = await this.#read()
      if (lease?.spec?.holderIdentity !== this.#o.identity) return
      const now = new Date()
      lease.spec = {
        ...lease.spec,
        acquireTime: undefined,
        holderIdentity: '',
        leaseDurationSeconds: 1,
        renewTime: microTime(now),
      }
      await this.#api.replaceNamespacedLease({
        name: this.#o.name,
        namespace: this.#o.namespace,
        body: lease,
      })
      this.#logger.info('lease released')
    } catch (err) {
      this.#logger.warn({ err: (err as Error).message }, 'cannot release the lease')
    }
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return
    let held = false
    try {
      held = await this.#tryAcquireOrRenew()
    } catch (err) {
      this.#logger.debug({ err: (err as Error).message }, 'lease update failed')
    }
    if (this.#stopped) return
    const now = Date.now()
    if (held) {
      this.#lastRenew = now
      if (!this.#leading) this.#setLeading(true)
    } else if (this.#leading && now - this.#lastRenew > this.#o.renewDeadlineMs) {
      this.#logger.error('could not renew the lease within the renew deadline; no longer leading')
      this.#setLeading(false)
    }
    this.#timer = setTimeout(() => void this.#tick(), this.#o.retryPeriodMs)
  }

  #setLeading(leading: boolean): void {
    this.#leading = leading
    this.#logger.info(leading ? 'became the leader' : 'stopped leading')
    if (leading) this.#cb.startedLeading()
    else this.#cb.stoppedLeading()
  }

  async #read(): Promise<V1Lease | undefined> {
    try {
      return await this.#api.readNamespacedLease({ name: this.#o.name, namespace: this.#o.namespace })
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined
      throw err
    }
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date()
    const o = this.#o
    const lease = await this.#read()
    const mine = {
      holderIdentity: o.identity,
      leaseDurationSeconds: Math.ceil(o.leaseDurationMs / 1000),
      renewTime: microTime(now),
    }
    if (!lease) {
      await this.#api.createNamespacedLease({
        namespace: o.namespace,
        body: {
          metadata: { name: o.name, namespace: o.namespace },
          spec: { ...mine, acquireTime: microTime(now), leaseTransitions: 0 },
        },
      })
      return true
    }
    const spec = lease.spec ?? {}
    const record = JSON.stringify([spec.holderIdentity, String(spec.renewTime), spec.leaseDurationSeconds])
    if (this.#observed?.record !== record) this.#observed = { record, at: now.getTime() }
    const holder = spec.holderIdentity ?? ''
    const duration = (spec.leaseDurationSeconds ?? 0) * 1000
    const expired = !holder || now.getTime() > (this.#observed?.at ?? 0) + duration
    if (holder !== o.identity && !expired) return false
    // Times read back are Dates that would serialize with milliseconds.
    const acquired = spec.acquireTime ? microTime(new Date(spec.acquireTime)) : undefined
    lease.spec =
      holder === o.identity
        ? { ...spec, ...mine, ...(acquired ? { acquireTime: acquired } : {}) }
        : {
            ...spec,
            ...mine,
            acquireTime: microTime(now),
            leaseTransitions: (spec.leaseTransitions ?? 0) + 1,
          }
    // resourceVersion is in lease.metadata: a concurrent update makes this fail with 409.
    await this.#api.replaceNamespacedLease({ name: o.name, namespace: o.namespace, body: lease })
    return true
  }
}
