/**
 * Level-based reconcile of one SessionCluster: create its Secret when missing (random, never
 * rewritten), apply every object it should own (server-side apply) — refusing, with an event, to take
 * over an object of the same name that it does not own — remove the PodDisruptionBudget when it is
 * switched off, then compute the status from what the caches show and write it only when it changed.
 * Events tell the user what happened.
 */
import { randomBytes } from 'node:crypto'
import type { KubernetesObject } from '@kubernetes/client-node'
import type { Logger } from 'pino'
import { type SessionCluster, withDefaults } from '../api/session-cluster.ts'
import { desiredResources } from '../resources/build.ts'
import { names } from '../resources/meta.ts'
import { clusterSecrets } from '../resources/secrets.ts'
import { type Applier, apiErrorMessage } from './apply.ts'
import type { EventRecorder } from './events.ts'
import { computeStatus, type PodView, type StatefulSetView, statusChanged } from './status.ts'

/** What the reconciler reads: the informers' caches. */
export interface ClusterState {
  cluster(namespace: string, name: string): SessionCluster | undefined
  owned(kind: string, namespace: string, name: string): KubernetesObject | undefined
  pods(namespace: string, instance: string): PodView[]
}

export class ReconcileError extends Error {
  readonly code = 'CATTERY_ERR_RECONCILE'
}

const CONFIG_HASH = 'cattery.dev/config-hash'

/** A StatefulSet as far as the events read it: replicas and the pod template's config hash. */
type TemplatedSet = StatefulSetView & {
  spec?: { template?: { metadata?: { annotations?: Record<string, string> } } }
}

export class Reconciler {
  readonly #state: ClusterState
  readonly #applier: Applier
  readonly #events: EventRecorder
  readonly #logger: Logger

  constructor(state: ClusterState, applier: Applier, events: EventRecorder, logger: Logger) {
    this.#state = state
    this.#applier = applier
    this.#events = events
    this.#logger = logger
  }

  async reconcile(namespace: string, name: string): Promise<void> {
    const found = this.#state.cluster(namespace, name)
    // Gone or going: what it owned goes with it (owner references, the garbage collector).
    if (!found || (found.metadata as { deletionTimestamp?: unknown }).deletionTimestamp) return
    const sc: SessionCluster = { ...found, spec: withDefaults(found.spec) }
    const n = names(sc)
    const desired = desiredResources(sc)
    this.#announceChanges(
      sc,
      this.#state.owned('StatefulSet', namespace, n.statefulSet) as TemplatedSet | undefined,
      desired.find((o) => o.kind === 'StatefulSet') as TemplatedSet,
    )
    let error: string | undefined
    // The Secret first (pods mount it), made once: its random content is never rewritten.
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: n.secrets, namespace } }
    for (const obj of [secret, ...desired]) {
      const meta = obj.metadata as { name: string }
      try {
        // Owned objects come from the informers' caches; what they do not hold (a Secret, a
        // foreign object of the same name, one not created yet) is read from the API.
        const existing =
          this.#state.owned(obj.kind as string, namespace, meta.name) ?? (await this.#applier.read(obj))
        if (existing && !ownedBy(existing, sc)) {
          error = `${obj.kind as string} ${meta.name} exists and is not owned by SessionCluster ${name}: refusing to take it over (delete or rename it)`
          this.#events.record(sc, 'Warning', 'NotOwned', error)
          break
        }
        if (obj === secret) {
          if (!existing)
            await this.#applier.create(
              clusterSecrets(sc, { clusterSecret: randomBytes(32), adminToken: randomBytes(32) }),
            )
          continue
        }
        await this.#applier.apply(obj)
      } catch (err) {
        error = `applying ${obj.kind as string} ${meta.name}: ${apiErrorMessage(err)}`
        break
      }
    }
    if (!error && !sc.spec.podDisruptionBudget.enabled) {
      const pdb = this.#state.owned('PodDisruptionBudget', namespace, n.pdb)
      if (pdb) await this.#applier.delete(pdb).catch((err) => (error = apiErrorMessage(err)))
    }
    const status = computeStatus(
      sc,
      {
        statefulSet: this.#state.owned('StatefulSet', namespace, n.statefulSet) as
          | StatefulSetView
          | undefined,
        pods: this.#state.pods(namespace, name),
        ...(error ? { error } : {}),
      },
      new Date(),
    )
    if (statusChanged(found.status, status)) {
      await this.#applier.writeStatus(sc, status)
      this.#announceTransitions(sc, found.status?.conditions ?? [], status.conditions ?? [])
    }
    if (error) throw new ReconcileError(error)
  }

  #announceChanges(sc: SessionCluster, current: TemplatedSet | undefined, desired: TemplatedSet): void {
    const want = sc.spec.replicas
    if (!current) {
      this.#events.record(sc, 'Normal', 'Created', `creating ${want} node(s) and their services`)
      return
    }
    const had = current.spec?.replicas ?? 0
    if (had !== want)
      this.#events.record(sc, 'Normal', want > had ? 'ScalingUp' : 'ScalingDown', `${had} → ${want} nodes`)
    const hash = (s: TemplatedSet) => s.spec?.template?.metadata?.annotations?.[CONFIG_HASH]
    if (hash(current) && hash(current) !== hash(desired))
      this.#events.record(sc, 'Normal', 'RollingOut', 'the node configuration changed; rolling the pods')
  }

  #announceTransitions(
    sc: SessionCluster,
    before: Array<{ type: string; status: string }>,
    after: Array<{ type: string; status: string; message: string }>,
  ): void {
    const was = (type: string) => before.find((c) => c.type === type)?.status
    for (const c of after) {
      if (was(c.type) === c.status) continue
      if (c.type === 'Ready' && c.status === 'True') this.#events.record(sc, 'Normal', 'Ready', c.message)
      if (c.type === 'Ready' && c.status === 'False' && was('Ready') === 'True')
        this.#events.record(sc, 'Warning', 'NotReady', c.message)
      if (c.type === 'Degraded' && c.status === 'True')
        this.#events.record(sc, 'Warning', 'ApplyFailed', c.message)
    }
    this.#logger.debug({ cluster: `${sc.metadata.namespace}/${sc.metadata.name}` }, 'status written')
  }
}

/** The SessionCluster is the object's controlling owner (by uid). */
function ownedBy(o: KubernetesObject, sc: SessionCluster): boolean {
  return (o.metadata?.ownerReferences ?? []).some((r) => r.controller && r.uid === sc.metadata.uid)
}
