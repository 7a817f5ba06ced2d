/**
 * Kubernetes benchmark (issue 11), on the real single-node Kubernetes of scripts/kube/up.sh (its own
 * data directory; needs root, `make image` and the Kubernetes binaries):
 *  - `kubectl scale` 1 → 2 of a SessionCluster holding 0, 10,000 and 100,000 sessions of 1 KB: time
 *    from the command to READY 2, and from the new node's process start to its readiness (uptimeMs of
 *    its 'node started' line); the empty cluster is the reference (pod scheduling, sandbox, container start, node
 *    start). Rounds alternate between the three clusters; medians. The goal: a new pod of a cluster
 *    holding 100,000 sessions serves within 2 s of its process starting.
 *    A node is its container's process (the image's entrypoint execs node), so its process start is
 *    the container's start to within runc's exec; the kubelet's `startedAt` has whole seconds only.
 *  - a rolling upgrade of 3 pods (a configuration change) of a SessionCluster holding 10,000 and
 *    100,000 sessions of 1 KB, under a steady load of sequential increments spread over the pods by
 *    the client Service: its duration, and requests per second during it against the 15 s before it,
 *    with synchronous (6) and asynchronous (8) replication.
 *   node bench/kube.ts [--quick]      (--quick: 1 round, 10,000 sessions at most)
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'

const ROOT = path.resolve(import.meta.dirname, '..')
const quick = process.argv.includes('--quick')
const ROUNDS = quick ? 1 : 3
const SIZES = quick ? [0, 10_000] : [0, 10_000, 100_000]
const KUBE_VERSION = 'v1.35.4'
const BIN = path.join(
  process.env.CATTERY_KUBE_CACHE ?? path.join(os.homedir(), '.cache/cattery/kube'),
  KUBE_VERSION,
  'bin',
)
const run = promisify(execFile)
const dir = mkdtempSync(path.join(os.tmpdir(), 'cattery-bench-kube-'))
const env = {
  ...process.env,
  CATTERY_KUBE_DIR: dir,
  CATTERY_APISERVER_PORT: '16543',
  CATTERY_ETCD_PORT: '23890',
}
const kubeconfig = path.join(dir, 'kubeconfig')
// biome-ignore lint/suspicious/noExplicitAny: API objects are read freely
type Obj = Record<string, any>

const kubectl = async (...args: string[]) =>
  (await run(path.join(BIN, 'kubectl'), ['--kubeconfig', kubeconfig, ...args], { maxBuffer: 64 << 20 }))
    .stdout
const json = async (...args: string[]): Promise<Obj> => JSON.parse(await kubectl(...args, '-o', 'json'))
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? (s[Math.floor((s.length - 1) / 2)] as number) : Number.NaN
}
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check().catch(() => false)) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}
const readyCount = async (name: string) =>
  Number((await json('get', 'sessioncluster', name)).status?.readyReplicas ?? 0)
const podIP = async (pod: string) => (await json('get', 'pod', pod)).status.podIP as string

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })
function get(
  url: string,
  cookie?: string,
  keepAlive = true,
): Promise<{ status: number; body: string; cookie?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      url,
      { agent: keepAlive ? agent : false, headers: cookie ? { cookie } : {} },
      (res) => {
        let body = ''
        res.setEncoding('utf8').on('data', (c: string) => {
          body += c
        })
        res.on('end', () => {
          const c = /^(JSESSIONID=[^;]+)/.exec(res.headers['set-cookie']?.[0] ?? '')?.[1]
          resolve({ status: res.statusCode ?? 0, body, ...(c ? { cookie: c } : {}) })
        })
      },
    )
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')))
    req.on('error', reject)
  })
}

async function createSessions(ip: string, count: number): Promise<void> {
  const value = 'x'.repeat(1000)
  let next = 0
  const worker = async () => {
    while (next < count) {
      next++
      const r = await get(`http://${ip}:8080/demo/set?k=data&v=${value}`)
      if (r.status !== 200) throw new Error(`creating a session: HTTP ${r.status} ${r.body}`)
    }
  }
  await Promise.all(Array.from({ length: 64 }, worker))
}

function applyCluster(name: string, replicas: number, sendOptions: number): Promise<string> {
  const file = path.join(dir, `${name}.yaml`)
  writeFileSync(
    file,
    `apiVersion: cattery.dev/v1alpha1
kind: SessionCluster
metadata: {name: ${name}, namespace: default}
spec:
  replicas: ${replicas}
  session: {timeout: 30}
  channel: {sendOptions: ${sendOptions}}
  manager: {maxActiveSessions: -1}
`,
  )
  return kubectl('apply', '-f', file)
}

/**
 * Milliseconds from the node process's start to serving (the uptimeMs of its "node started" line),
 * and of that, until it asked a donor for the sessions (from the lines' times).
 */
async function processToReady(pod: string): Promise<{ ready: number; asked: number }> {
  const lines = (await kubectl('logs', pod))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { event?: string; uptimeMs?: number; msg?: string; time: number })
  const started = lines.find((l) => l.event === 'started')
  const asked = lines.filter((l) => l.msg === 'asking for all sessions').at(-1)
  const ready = started?.uptimeMs ?? Number.NaN
  return { ready, asked: started && asked ? ready - (started.time - asked.time) : Number.NaN }
}

async function scaleRound(name: string): Promise<{ command: number; process: number; asked: number }> {
  const t0 = performance.now()
  await kubectl('scale', `sessioncluster/${name}`, '--replicas=2')
  await until(`${name} READY 2`, async () => (await readyCount(name)) === 2)
  const command = performance.now() - t0
  const processMs = await processToReady(`${name}-1`)
  await kubectl('scale', `sessioncluster/${name}`, '--replicas=1')
  await until(
    `${name}-1 gone`,
    async () => (await json('get', 'pods', '-l', `app.kubernetes.io/instance=${name}`)).items.length === 1,
  )
  return { command, process: processMs.ready, asked: processMs.asked }
}

/** Sequential increments by `clients` clients through `url` (a new connection each, as a balancer). */
function load(url: string, clients: number) {
  let stopped = false
  const acks: number[] = []
  let failed = 0
  const one = async () => {
    let cookie: string | undefined
    while (!stopped) {
      try {
        const r = await get(`${url}/demo/inc`, cookie, false)
        if (r.status !== 200) throw new Error(String(r.status))
        cookie = r.cookie ?? cookie
        acks.push(Date.now())
      } catch {
        failed++
        await sleep(20)
      }
    }
  }
  const done = Promise.all(Array.from({ length: clients }, one))
  return {
    rate: (from: number, to: number) => acks.filter((t) => t >= from && t < to).length / ((to - from) / 1000),
    stop: async () => {
      stopped = true
      await done
      return failed
    },
  }
}

async function rollingUpgrade(
  name: string,
): Promise<{ ms: number; before: number; during: number; failed: number }> {
  const svc = await json('get', 'service', name)
  const l = load(`http://${svc.spec.clusterIP}:80`, 16)
  await sleep(15_000)
  const before = Date.now()
  const sts = await json('get', 'statefulset', name)
  const timeout = 31 + Number(sts.metadata.generation)
  await kubectl(
    'patch',
    'sessioncluster',
    name,
    '--type=merge',
    '-p',
    JSON.stringify({ spec: { session: { timeout } } }),
  )
  await until('the rollout to start', async () => {
    const s = await json('get', 'statefulset', name)
    return s.status.updateRevision !== s.status.currentRevision
  })
  await until(
    'the rollout to end',
    async () => {
      const s = await json('get', 'statefulset', name)
      return (
        s.status.updateRevision === s.status.currentRevision &&
        s.status.readyReplicas === 3 &&
        s.status.updatedReplicas === 3
      )
    },
    600_000,
  )
  const after = Date.now()
  const failed = await l.stop()
  return {
    ms: after - before,
    before: l.rate(before - 15_000, before),
    during: l.rate(before, after),
    failed,
  }
}

try {
  process.stderr.write('starting Kubernetes (scripts/kube/up.sh)\n')
  await run(path.join(ROOT, 'scripts/kube/up.sh'), { env, maxBuffer: 16 << 20 })
  await run(path.join(BIN, 'helm'), [
    '--kubeconfig',
    kubeconfig,
    'install',
    'cattery',
    path.join(ROOT, 'charts/cattery-operator'),
    '-n',
    'cattery-system',
    '--create-namespace',
    '--set',
    'replicaCount=1',
  ])
  await kubectl('-n', 'cattery-system', 'rollout', 'status', 'deployment', '--timeout=120s')

  const names = SIZES.map((n) => `scale-${n}`)
  for (const name of names) await applyCluster(name, 1, 8)
  for (const name of names) await until(`${name} READY 1`, async () => (await readyCount(name)) === 1)
  for (const [i, n] of SIZES.entries()) {
    if (n === 0) continue
    process.stderr.write(`creating ${n} sessions of 1 KB in ${names[i]}\n`)
    await createSessions(await podIP(`${names[i]}-0`), n)
  }
  const scale: Record<string, { command: number[]; process: number[]; asked: number[] }> = {}
  for (let r = 0; r < ROUNDS; r++) {
    for (const name of names) {
      const x = await scaleRound(name)
      scale[name] ??= { command: [], process: [], asked: [] }
      scale[name].command.push(x.command)
      scale[name].process.push(x.process)
      scale[name].asked.push(x.asked)
      process.stderr.write(
        `round ${r + 1} ${name}: scale → READY ${Math.round(x.command)} ms, process → ready ${x.process} ms (asked for the sessions at ${x.asked} ms)\n`,
      )
    }
  }
  for (const name of names) await kubectl('delete', 'sessioncluster', name, '--wait=false')

  const rolls: Array<{ so: number; sessions: number } & Awaited<ReturnType<typeof rollingUpgrade>>> = []
  for (const sessions of SIZES.filter((n) => n > 0)) {
    for (const so of [6, 8]) {
      const name = `roll-${so}-${sessions / 1000}k`
      await applyCluster(name, 3, so)
      await until(`${name} READY 3`, async () => (await readyCount(name)) === 3)
      process.stderr.write(`creating ${sessions} sessions of 1 KB in ${name}\n`)
      await createSessions(await podIP(`${name}-0`), sessions)
      const r = await rollingUpgrade(name)
      rolls.push({ so, sessions, ...r })
      process.stderr.write(`${name}: ${JSON.stringify(r)}\n`)
      await kubectl('delete', 'sessioncluster', name, '--wait=false')
    }
  }

  const ref = scale['scale-0'] as { command: number[]; process: number[]; asked: number[] }
  console.log(`\n## Kubernetes (issue 11)\n`)
  console.log(
    `Command: \`node bench/kube.ts\`${quick ? ' --quick' : ''}; ${new Date().toISOString().slice(0, 16)} UTC, Node ${process.version}, ${ROUNDS} round(s), medians.\n`,
  )
  console.log(
    '| SessionCluster holding | kubectl scale 1→2 → READY 2 (ms) | ratio to empty | new node: process → ready (ms) | ratio to empty | of which: process → asking a donor (ms) |',
  )
  console.log('| --- | --- | --- | --- | --- | --- |')
  for (const [i, n] of SIZES.entries()) {
    const s = scale[names[i] as string] as { command: number[]; process: number[]; asked: number[] }
    console.log(
      `| ${n.toLocaleString('en')} sessions of 1 KB | ${Math.round(median(s.command))} | ${(median(s.command) / median(ref.command)).toFixed(2)}x | ${median(s.process)} | ${(median(s.process) / median(ref.process)).toFixed(2)}x | ${median(s.asked)} |`,
    )
  }
  console.log(
    '\n| rolling upgrade of 3 pods under load | sessions of 1 KB | duration (s) | req/s before | req/s during | during / before | requests without answer |',
  )
  console.log('| --- | --- | --- | --- | --- | --- | --- |')
  for (const r of rolls) {
    console.log(
      `| ${r.so === 6 ? 'sync (6)' : 'async (8)'} | ${r.sessions.toLocaleString('en')} | ${(r.ms / 1000).toFixed(1)} | ${Math.round(r.before)} | ${Math.round(r.during)} | ${Math.round((100 * r.during) / r.before)}% | ${r.failed} |`,
    )
  }
} finally {
  agent.destroy()
  await run(path.join(ROOT, 'scripts/kube/down.sh'), { env }).catch(() => undefined)
}
