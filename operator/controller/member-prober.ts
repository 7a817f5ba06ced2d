/**
 * The member prober: learns which ready pod runs which application by asking each one's admin server
 * (`GET /status`, the cluster's admin token), as CloudNativePG's operator polls its instances. It
 * stays out of the reconcile's critical path: `observe` returns the last answers at once and only
 * starts requests; when an answer changes, the cluster is enqueued and the next reconcile writes it.
 *
 * - A pod is asked when it first shows up ready, then on a timer per cluster: every FAST_POLL_MS
 *   while some application of the spec does not yet run its ConfigMap's digest on every ready pod
 *   (the kubelet refreshes a projected ConfigMap within about a minute), every SLOW_POLL_MS after
 *   (so a redeploy through the admin API or a later ConfigMap edit is seen).
 * - Each request has TIMEOUT_MS; a pod that does not answer keeps its last answer (a busy node is
 *   still what it was) and is warned about once until it answers again. A pod that stops being ready
 *   loses its answer, so a restarted one is asked afresh.
 *
 * Bounds: at most MAX_PODS pods per cluster are asked (the first by ordinal), one request in flight
 * per pod, answers of at most MAX_ANSWER_BYTES; only clusters with applications are tracked, and a
 * cluster is forgotten when it goes or has none left.
 */
import http from 'node:http'
import type { Logger } from 'pino'
import { converged, type PodFarm, podFarmOf, sameFarm } from './application-members.ts'

const proberDefaults = {
  timeoutMs: 1_500,
  fastPollMs: 5_000,
  slowPollMs: 60_000,
  maxPods: 64,
  maxAnswerBytes: 1 << 20,
}

export interface ProbeTarget {
  /** The pod's name (its node's name). */
  name: string
  ip: string
}

export interface ProbeInput {
  /** The ready pods, by ordinal. */
  targets: ProbeTarget[]
  /** The admin token of the cluster's pods; without it nothing is asked. */
  token: string | undefined
  /** spec.applications with the digest of each ConfigMap's archive, when it is known. */
  applications: ReadonlyArray<{ name: string; digest?: string | undefined }>
}

/** GETs a pod's /status; rejects on anything but a JSON answer within the time. */
export type StatusFetcher = (url: string, token: string, timeoutMs: number) => Promise<unknown>

export interface ProberOptions {
  logger: Logger
  /** Called with the cluster's key when an answer changed. */
  onChange: (key: string) => void
  /** The admin port of the node pods (meta.ts ports.admin). */
  port: number
  fetchStatus?: StatusFetcher
  timeoutMs?: number
  fastPollMs?: number
  slowPollMs?: number
  maxPods?: number
}

interface PodState {
  ip: string
  answer: PodFarm | undefined
  inFlight: boolean
  failing: boolean
}

interface ClusterProbe {
  input: ProbeInput
  pods: Map<string, PodState>
  timer: NodeJS.Timeout | undefined
  /** When the timer fires (ms since the epoch). */
  due: number
}

export class MemberProber {
  readonly #o: Required<ProberOptions>
  readonly #clusters = new Map<string, ClusterProbe>()
  #stopped = false

  constructor(options: ProberOptions) {
    this.#o = {
      fetchStatus: getStatus,
      timeoutMs: proberDefaults.timeoutMs,
      fastPollMs: proberDefaults.fastPollMs,
      slowPollMs: proberDefaults.slowPollMs,
      maxPods: proberDefaults.maxPods,
      ...options,
    }
  }

  /**
   * Records what the cluster `key` looks like now, asks the pods not asked yet, and returns the last
   * answer of each target (by pod name). Never waits for a pod.
   */
  observe(key: string, input: ProbeInput): Map<string, PodFarm> {
    if (this.#stopped || !input.token || input.applications.length === 0) {
      this.forget(key)
      return new Map()
    }
    const targets = input.targets.slice(0, this.#o.maxPods)
    let c = this.#clusters.get(key)
    if (!c) {
      c = { input, pods: new Map(), timer: undefined, due: Number.POSITIVE_INFINITY }
      this.#clusters.set(key, c)
    }
    c.input = { ...input, targets }
    for (const [name, p] of c.pods)
      if (!targets.some((t) => t.name === name && t.ip === p.ip)) c.pods.delete(name)
    for (const t of targets) {
      if (c.pods.has(t.name)) continue
      c.pods.set(t.name, { ip: t.ip, answer: undefined, inFlight: false, failing: false })
      void this.#ask(key, c, t.name)
    }
    this.#schedule(key, c)
    const answers = new Map<string, PodFarm>()
    for (const t of targets) {
      const answer = c.pods.get(t.name)?.answer
      if (answer) answers.set(t.name, answer)
    }
    return answers
  }

  forget(key: string): void {
    const c = this.#clusters.get(key)
    if (!c) return
    clearTimeout(c.timer)
    this.#clusters.delete(key)
  }

  /** Asks again after stop() (a replica that leads again). */
  start(): void {
    this.#stopped = false
  }

  /** Forgets every cluster and asks nothing until start() (this replica stopped leading, or stops). */
  stop(): void {
    this.#stopped = true
    for (const key of [...this.#clusters.keys()]) this.forget(key)
  }

  /**
   * Sets the cluster's timer, unless it fires sooner already: reconciles come more often than the
   * polls during a rollout, and must not keep pushing the next round back.
   */
  #schedule(key: string, c: ClusterProbe): void {
    const pods = c.input.targets.map((t) => ({ name: t.name, farm: c.pods.get(t.name)?.answer }))
    const wait = converged(c.input.applications, pods) ? this.#o.slowPollMs : this.#o.fastPollMs
    if (c.timer && c.due <= Date.now() + wait) return
    clearTimeout(c.timer)
    c.due = Date.now() + wait
    c.timer = setTimeout(() => void this.#round(key, c), wait).unref()
  }

  async #round(key: string, c: ClusterProbe): Promise<void> {
    c.timer = undefined
    const changed = await Promise.all(c.input.targets.map((t) => this.#ask(key, c, t.name, false)))
    if (this.#clusters.get(key) !== c) return
    if (changed.some(Boolean)) this.#o.onChange(key)
    this.#schedule(key, c)
  }

  /** Asks one pod; true when its answer changed. With `notify`, enqueues the cluster itself then. */
  async #ask(key: string, c: ClusterProbe, name: string, notify = true): Promise<boolean> {
    const p = c.pods.get(name)
    if (!p || p.inFlight || !c.input.token) return false
    p.inFlight = true
    const url = `http://${p.ip.includes(':') ? `[${p.ip}]` : p.ip}:${this.#o.port}/status`
    try {
      const status = await this.#o.fetchStatus(url, c.input.token, this.#o.timeoutMs)
      const answer = podFarmOf(
        status,
        c.input.applications.map((a) => a.name),
      )
      if (!answer) throw new Error('the answer is not a node status')
      if (p.failing) this.#o.logger.info({ cluster: key, pod: name }, 'member prober: the pod answers again')
      p.failing = false
      if (sameFarm(p.answer, answer)) return false
      p.answer = answer
      if (notify && this.#clusters.get(key) === c && c.pods.get(name) === p) this.#o.onChange(key)
      return true
    } catch (err) {
      if (!p.failing)
        this.#o.logger.warn(
          { cluster: key, pod: name, url, err: (err as Error).message },
          'member prober: cannot read the pod’s /status; its applications are not reported (is the admin port reachable from the operator?)',
        )
      p.failing = true
      return false
    } finally {
      p.inFlight = false
    }
  }
}

/** GET with the bearer token, a deadline for the whole exchange and a bound on the answer. */
const getStatus: StatusFetcher = (url, token, timeoutMs) =>
  new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { authorization: `Bearer ${token}` }, agent: false }, (res) => {
      if (res.statusCode !== 200) {
        res.resume()
        reject(new Error(`HTTP ${res.statusCode}`))
        return
      }
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > proberDefaults.maxAnswerBytes)
          req.destroy(new Error(`an answer larger than ${proberDefaults.maxAnswerBytes} bytes`))
        else chunks.push(chunk)
      })
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')))
        } catch (err) {
          reject(err)
        }
      })
      res.on('error', reject)
    })
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
    req.on('close', () => clearTimeout(timer))
    req.on('error', reject)
  })
