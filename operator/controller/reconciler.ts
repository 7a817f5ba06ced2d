/**
 * Level-based reconcile of one SessionCluster: create its Secret when missing (random, never
 * rewritten; a user's edit of it is taken as it is, its checksum goes into the pod template so the
 * pods roll), apply every object it should own (server-side apply) — refusing, with an event, to take
 * over an object of the same name that it does not own — remove the PodDisruptionBudget when it is
 * switched off, then compute the status from what the caches show — with, from the member prober
 * (member-prober.ts), which ready pods run each application — and write it only when it changed.
 * Events tell the user what happened.
 */
import { createHash, randomBytes } from 'node:crypto'
import type { KubernetesObject } from '@kubernetes/client-node'
import type { Logger } from 'pino'
import { type SessionCluster, withDefaults } from '../api/session-cluster.ts'
import { desiredResources } from '../resources/build.ts'
import { farmApplications } from '../resources/farm.ts'
import { names, podAnnotations, secretFiles } from '../resources/meta.ts'
import type { OperatorLocation } from '../resources/network-policy.ts'
import { clusterSecrets, secretsChecksum } from '../resources/secrets.ts'
import { withMembers } from './application-members.ts'
import { type Applier, apiErrorMessage } from './apply.ts'
import type { EventRecorder } from './events.ts'
import type { MemberProber } from './member-prober.ts'
import { computeStatus, membersOf, type PodView, type StatefulSetView, statusChanged } from './status.ts'

/** What the reconciler reads: the informers' caches. */
export interface ClusterState {
  cluster(namespace: string, name: string): SessionCluster | undefined
  owned(kind: string, namespace: string, name: string): KubernetesObject | undefined
  pods(namespace: string, instance: string): PodView[]
}

class ReconcileError extends Error {
  readonly code = 'CATTERY_ERR_RECONCILE'
}

export interface ReconcilerOptions {
  /** Asks the ready pods which applications they run; without it, status lists no members. */
  prober?: Pick<MemberProber, 'observe' | 'forget'>
  /** Where the operator's pods are, so the NetworkPolicy admits them to the admin port. */
  operator?: OperatorLocation | undefined
}

/** A StatefulSet as far as the events read it: replicas and the pod template's hashes. */
type TemplatedSet = StatefulSetView & {
  spec?: { template?: { metadata?: { annotations?: Record<string, string> } } }
}

export class Reconciler {
  readonly #state: ClusterState
  readonly #applier: Applier
  readonly #events: EventRecorder
  readonly #logger: Logger
  readonly #options: ReconcilerOptions

  constructor(
    state: ClusterState,
    applier: Applier,
    events: EventRecorder,
    logger: Logger,
    options: ReconcilerOptions = {},
  ) {
    this.#state = state
    this.#applier = applier
    this.#events = events
    this.#logger = logger
    this.#options = options
  }

  async reconcile(namespace: string, name: string): Promise<void> {
    const found = this.#state.cluster(namespace, name)
    // Gone or going: what it owned goes with it (owner references, the garbage collector).
    if (!found || (found.metadata as { deletionTimestamp?: unknown }).deletionTimestamp) {
      this.#options.prober?.forget(`${namespace}/${name}`)
      return
    }
    const sc: SessionCluster = { ...found, spec: withDefaults(found.spec) }
    const n = names(sc)
    // The Secret first (pods mount it, the pod template carries its checksum), made once.
    const secret = await this.#secret(sc)
    let error = secret.error
    if (secret.checksum !== undefined) {
      const desired = desiredResources(sc, {
        secretsChecksum: secret.checksum,
        ...(this.#options.operator ? { operator: this.#options.operator } : {}),
      })
      this.#announceChanges(
        sc,
        this.#state.owned('StatefulSet', namespace, n.statefulSet) as TemplatedSet | undefined,
        desired.find((o) => o.kind === 'StatefulSet') as TemplatedSet,
      )
      for (const obj of desired) {
        const meta = obj.metadata as { name: string }
        try {
          const existing = await this.#existing(obj)
          if (existing && !ownedBy(existing, sc)) {
            error = this.#notOwned(sc, obj)
            break
          }
          await this.#applier.apply(obj)
        } catch (err) {
          error = `applying ${obj.kind as string} ${meta.name}: ${apiErrorMessage(err)}`
          break
        }
      }
    }
    if (!error && !sc.spec.podDisruptionBudget.enabled) {
      const pdb = this.#state.owned('PodDisruptionBudget', namespace, n.pdb)
      if (pdb) await this.#applier.delete(pdb).catch((err) => (error = apiErrorMessage(err)))
    }
    const pods = this.#state.pods(namespace, name)
    const status = computeStatus(
      sc,
      {
        statefulSet: this.#state.owned('StatefulSet', namespace, n.statefulSet) as
          | StatefulSetView
          | undefined,
        pods,
        applications: await this.#applicationsWithMembers(sc, pods, secret.token),
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

  /**
   * The cluster's Secret: created when missing (random bytes drawn only then), never rewritten; its
   * checksum, or why there is none (not ours, an API error).
   */
  async #secret(sc: SessionCluster): Promise<{ checksum?: string; token?: string; error?: string }> {
    const name = names(sc).secrets
    const ref = { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: sc.metadata.namespace } }
    try {
      let secret = await this.#existing(ref)
      if (secret && !ownedBy(secret, sc)) return { error: this.#notOwned(sc, ref) }
      secret ??= await this.#applier.create(
        clusterSecrets(sc, { clusterSecret: randomBytes(32), adminToken: randomBytes(32) }),
      )
      const data = (secret as { data?: Record<string, string> }).data
      const token = data?.[secretFiles.adminToken]
      return {
        checksum: secretsChecksum(data),
        ...(token ? { token: Buffer.from(token, 'base64').toString('utf8').trim() } : {}),
      }
    } catch (err) {
      return { error: `applying Secret ${name}: ${apiErrorMessage(err)}` }
    }
  }

  /**
   * The object as it is now: owned objects from the informers' caches; what they do not hold (a
   * foreign object of the same name, one not created yet) from the API.
   */
  async #existing(obj: Record<string, unknown>): Promise<KubernetesObject | undefined> {
    const meta = obj.metadata as { name: string; namespace: string }
    return this.#state.owned(obj.kind as string, meta.namespace, meta.name) ?? (await this.#applier.read(obj))
  }

  #notOwned(sc: SessionCluster, obj: Record<string, unknown>): string {
    const error = `${obj.kind as string} ${(obj.metadata as { name: string }).name} exists and is not owned by SessionCluster ${sc.metadata.name}: refusing to take it over (delete or rename it)`
    this.#events.record(sc, 'Warning', 'NotOwned', error)
    return error
  }

  /**
   * status.applications: each ConfigMap's digest, and which ready pods run it as the prober last
   * heard (it asks in the background; a change of answer enqueues the cluster again).
   */
  async #applicationsWithMembers(sc: SessionCluster, pods: PodView[], token: string | undefined) {
    const apps = await this.#applications(sc)
    const prober = this.#options.prober
    if (!prober) return apps
    const ready = membersOf(sc, pods).filter((m) => m.ready)
    const answers = prober.observe(`${sc.metadata.namespace}/${sc.metadata.name}`, {
      targets: ready.map((m) => ({ name: m.name, ip: m.podIP })),
      token,
      applications: apps,
    })
    return withMembers(
      apps,
      ready.map((m) => ({ name: m.name, farm: answers.get(m.name) })),
    )
  }

  /** Each application's ConfigMap, read now: the SHA-256 of its archive, or why there is none. */
  async #applications(sc: SessionCluster) {
    const out = []
    for (const a of farmApplications(sc)) {
      const row = { name: a.name, configMap: a.configMap }
      try {
        const cm = (await this.#applier.read({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: a.configMap, namespace: sc.metadata.namespace },
        })) as { binaryData?: Record<string, string> } | undefined
        const data = cm?.binaryData?.[a.key]
        out.push(
          !cm
            ? { ...row, problem: `ConfigMap ${a.configMap} does not exist` }
            : data === undefined
              ? { ...row, problem: `ConfigMap ${a.configMap} has no binaryData key ${a.key}` }
              : { ...row, digest: createHash('sha256').update(Buffer.from(data, 'base64')).digest('hex') },
        )
      } catch (err) {
        out.push({ ...row, problem: `cannot read ConfigMap ${a.configMap}: ${apiErrorMessage(err)}` })
      }
    }
    return out
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
    const hash = (s: TemplatedSet, key: string) => s.spec?.template?.metadata?.annotations?.[key]
    const changed = (key: string) => hash(current, key) && hash(current, key) !== hash(desired, key)
    if (changed(podAnnotations.configHash))
      this.#events.record(sc, 'Normal', 'RollingOut', 'the node configuration changed; rolling the pods')
    if (changed(podAnnotations.secretsChecksum))
      this.#events.record(
        sc,
        'Normal',
        'RollingOut',
        `the Secret ${names(sc).secrets} changed; rolling the pods (docs/security.md, "Rotating the secret")`,
      )
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
