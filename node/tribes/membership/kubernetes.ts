/**
 * Peers from the Kubernetes API: the operator publishes each SessionCluster's members (pod name =
 * jvmRoute, pod IP, replication port, ready) in its status; this source watches that one object with
 * the pod's service-account token (re-read as it rotates) and hands the addresses to the probe
 * membership, which pings them. Better than Tomcat's KubernetesMembershipProvider, which polls the
 * pod list: a watch sees changes at once, ports come per pod, and when the API cannot be reached the
 * last known list is kept (members that really die are still noticed by the pings) instead of dropped.
 * @kubernetes/client-node is loaded only when this membership is used.
 */
import type { Logger } from 'pino'
import type { KubernetesMembershipOptions } from '../options.ts'
import type { DynamicMembershipSource, MemberAddress } from './dynamic.ts'

const GROUP = 'cattery.dev'
const VERSION = 'v1alpha1'
const PLURAL = 'sessionclusters'
const RETRY_MIN_MS = 250
const RETRY_MAX_MS = 10_000
/** How long start waits for the first list before going on alone (as a first node would). */
const FIRST_LIST_WAIT_MS = 30_000

interface PublishedMember {
  name?: string
  podIP?: string
  port?: number
  ready?: boolean
}

export class KubernetesMemberSource implements DynamicMembershipSource {
  readonly #o: KubernetesMembershipOptions
  readonly #logger: Logger
  readonly #listeners = new Set<(a: MemberAddress[]) => void>()
  #addresses: MemberAddress[] = []
  #key = ''
  #stopped = false
  #abort: (() => void) | undefined
  #first: Promise<void>
  #firstDone!: () => void
  #loop: Promise<void> | undefined

  constructor(options: KubernetesMembershipOptions, logger: Logger) {
    this.#o = options
    this.#logger = logger.child({
      membership: 'kubernetes',
      cluster: `${options.namespace}/${options.cluster}`,
    })
    this.#first = new Promise((resolve) => {
      this.#firstDone = resolve
    })
  }

  ready(): Promise<void> {
    this.#loop ??= this.#run()
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.#logger.warn(
          { afterMs: FIRST_LIST_WAIT_MS },
          'no member list from the API yet; starting without peers',
        )
        resolve()
      }, FIRST_LIST_WAIT_MS)
      timer.unref()
    })
    return Promise.race([this.#first, timeout]).finally(() => clearTimeout(timer))
  }

  subscribe(onChange: (addresses: MemberAddress[]) => void): () => void {
    this.#loop ??= this.#run()
    this.#listeners.add(onChange)
    onChange([...this.#addresses])
    return () => this.#listeners.delete(onChange)
  }

  close(): void {
    this.#stopped = true
    this.#abort?.()
  }

  #publish(members: PublishedMember[] | undefined): void {
    const addresses = (members ?? [])
      .filter((m) => m.podIP && m.port)
      .map((m) => ({ host: m.podIP as string, port: m.port as number }))
    const key = JSON.stringify(addresses)
    this.#firstDone()
    if (key === this.#key) return
    this.#key = key
    this.#addresses = addresses
    this.#logger.info(
      { event: 'peers-published', peers: (members ?? []).map((m) => `${m.name}@${m.podIP}:${m.port}`) },
      'member list from the API',
    )
    for (const l of this.#listeners) l([...addresses])
  }

  async #run(): Promise<void> {
    const k8s = await import('@kubernetes/client-node')
    const kc = new k8s.KubeConfig()
    kc.loadFromClusterAndUser(
      { name: 'cluster', server: this.#o.apiServer, caFile: this.#o.caFile, skipTLSVerify: false },
      // The client re-reads a token file as it rotates (projected service-account tokens do).
      { name: 'node', authProvider: { name: 'tokenFile', config: { tokenFile: this.#o.tokenFile } } },
    )
    const api = kc.makeApiClient(k8s.CustomObjectsApi)
    const watch = new k8s.Watch(kc)
    const path = `/apis/${GROUP}/${VERSION}/namespaces/${this.#o.namespace}/${PLURAL}`
    const target = {
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace: this.#o.namespace,
      name: this.#o.cluster,
    }
    let delay = RETRY_MIN_MS
    while (!this.#stopped) {
      try {
        const sc = (await api.getNamespacedCustomObject(target)) as {
          metadata?: { resourceVersion?: string }
          status?: { members?: PublishedMember[] }
        }
        this.#publish(sc.status?.members)
        delay = RETRY_MIN_MS
        await new Promise<void>((resolve, reject) => {
          watch
            .watch(
              path,
              {
                fieldSelector: `metadata.name=${this.#o.cluster}`,
                resourceVersion: sc.metadata?.resourceVersion,
                allowWatchBookmarks: true,
              },
              (phase: string, obj: { status?: { members?: PublishedMember[] } }) => {
                if (phase === 'ADDED' || phase === 'MODIFIED') this.#publish(obj.status?.members)
              },
              (err: unknown) => {
                this.#abort = undefined
                // A quiet watch times out on the client's side: just watch again.
                if (err && (err as Error).name !== 'TimeoutError' && (err as Error).name !== 'AbortError')
                  reject(err)
                else resolve()
              },
            )
            .then((req: { abort(): void }) => {
              this.#abort = () => req.abort()
              if (this.#stopped) req.abort()
            }, reject)
        })
      } catch (err) {
        if (this.#stopped) return
        const e = err as { code?: number | string; message?: string }
        // An HTTP status code says what the message does not; a Node error's code is in its message.
        const said = e.code !== undefined && !String(e.message ?? '').startsWith(String(e.code))
        // Keep the last list: the pings still notice members that die.
        this.#logger.warn(
          {
            err: said ? `${e.code} ${e.message ?? ''}`.trim() : (e.message ?? String(err)),
            retryInMs: delay,
            keeping: this.#addresses.length,
          },
          'cannot read the member list; keeping the last one',
        )
        await new Promise((r) => setTimeout(r, delay))
        delay = Math.min(RETRY_MAX_MS, delay * 2)
      }
    }
  }
}
