/**
 * Peers from the Kubernetes API: the operator publishes each SessionCluster's members (pod name =
 * jvmRoute, pod IP, replication port, ready) in its status; this source watches that one object with
 * the pod's service-account token (re-read as it rotates) and hands the addresses to the probe
 * membership, which pings them. Better than Tomcat's KubernetesMembershipProvider, which polls the
 * pod list: a watch sees changes at once, ports come per pod, and when the API cannot be reached the
 * last known list is kept (members that really die are still noticed by the pings) instead of dropped.
 *
 * @kubernetes/client-node is loaded only when this membership is used, and only once the member is
 * ready (a second after): loading it takes ~0.3 s of CPU, which a joining pod would spend before (or,
 * deferred, during) its state transfer, and which would hold up its first answers. The first list comes from one HTTPS GET of the same object instead
 * (firstList); if that fails, the watch starts at once. Until the watch runs (at the latest
 * WATCH_LATEST_MS after the first list), changes to the list are not seen: a joiner needs only the
 * members that hold the sessions, and the pings notice those that leave.
 */
import { readFile } from 'node:fs/promises'
import { request } from 'node:https'
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
/** The watch starts this long after this member is ready (it says so and serves first), or
 * WATCH_LATEST_MS after the first list at the latest. */
const WATCH_AFTER_READY_MS = 1_000
const WATCH_LATEST_MS = 10_000
/** The first list's GET gives up after this long (the watch then takes over). */
const FIRST_GET_TIMEOUT_MS = 5_000

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
  #watch: Promise<void> | undefined
  #watchTimer: NodeJS.Timeout | undefined

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
    this.#loop ??= this.#start()
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
    this.#loop ??= this.#start()
    this.#listeners.add(onChange)
    onChange([...this.#addresses])
    return () => this.#listeners.delete(onChange)
  }

  close(): void {
    this.#stopped = true
    clearTimeout(this.#watchTimer)
    this.#abort?.()
  }

  localReady(ready: boolean): void {
    if (!ready || !this.#loop || this.#watch) return
    clearTimeout(this.#watchTimer)
    this.#watchTimer = setTimeout(() => void this.#startWatch(), WATCH_AFTER_READY_MS)
    this.#watchTimer.unref()
  }

  /** The first list by one GET, then the watch (once ready); the watch at once when the GET fails. */
  async #start(): Promise<void> {
    try {
      const sc = await firstList(this.#o)
      this.#publish(sc.status?.members)
    } catch (err) {
      this.#logger.debug({ err: (err as Error).message }, 'first member list not read; watching at once')
      return this.#startWatch()
    }
    this.#watchTimer = setTimeout(() => void this.#startWatch(), WATCH_LATEST_MS)
    this.#watchTimer.unref()
  }

  #startWatch(): Promise<void> {
    clearTimeout(this.#watchTimer)
    if (this.#stopped) return Promise.resolve()
    this.#watch ??= this.#run()
    return this.#watch
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
    const path = collectionPath(this.#o)
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

/** The SessionClusters of the node's namespace, as an API path. */
const collectionPath = (o: KubernetesMembershipOptions): string =>
  `/apis/${GROUP}/${VERSION}/namespaces/${encodeURIComponent(o.namespace)}/${PLURAL}`

/**
 * The SessionCluster object by one GET with the service-account token and the cluster's CA, without
 * loading @kubernetes/client-node (see above).
 */
async function firstList(
  o: KubernetesMembershipOptions,
): Promise<{ status?: { members?: PublishedMember[] } }> {
  const [token, ca] = await Promise.all([readFile(o.tokenFile, 'utf8'), readFile(o.caFile)])
  const url = new URL(`${collectionPath(o)}/${encodeURIComponent(o.cluster)}`, o.apiServer)
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        ca,
        headers: { authorization: `Bearer ${token.trim()}`, accept: 'application/json' },
        timeout: FIRST_GET_TIMEOUT_MS,
      },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          body += chunk
        })
        res.on('end', () => {
          if (res.statusCode !== 200) {
            reject(new Error(`${res.statusCode} ${body.slice(0, 200)}`))
            return
          }
          try {
            resolve(JSON.parse(body))
          } catch (err) {
            reject(err)
          }
        })
        res.on('error', reject)
      },
    )
    req.on('timeout', () => req.destroy(new Error(`no answer within ${FIRST_GET_TIMEOUT_MS} ms`)))
    req.on('error', reject)
    req.end()
  })
}
