/**
 * Session benchmark (issue 3), one run each:
 *  - requests/s and p50/p99 of GET /demo/inc (one session, a delta per request) on one node of a
 *    3-node cluster, asynchronous (8) and synchronous (6), beside the same node with replication off
 *    (--manager standard) and a bare fastify route (the ceiling); load from wrk, in rounds that
 *    alternate between the scenarios (medians reported: this 2-core machine is shared and noisy);
 *  - state transfer of 100,000 sessions of 1 KB: time from the joiner's start to its /readyz, and the
 *    joiner's memory per session (RSS above an idle node's).
 * With --with-secret the two cluster scenarios run a third and fourth time by clusters with a cluster
 * secret (authenticated, encrypted channel), in the same rounds, so the rows compare side by side.
 * With --cpu-prof DIR every cluster node writes a V8 CPU profile into DIR/<scenario>/<node> (the
 * serving node is b1), the nodes are stopped gracefully so they can, and the transfer is skipped.
 *   node bench/sessions.ts [--quick] [--transfer-only | --throughput-only] [--with-secret] [--cpu-prof DIR]
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { EXAMPLE_APPS, freePorts, loopbackNodeArgs, MAIN, NodeProcess } from '../scripts/lib/node-process.ts'
import { cpuSeconds } from './lib/processes.ts'
import { ensureWrk } from './lib/wrk.ts'

const quick = process.argv.includes('--quick')
const withSecret = process.argv.includes('--with-secret')
const DURATION = quick ? '3s' : '5s'
const ROUNDS = quick ? 3 : 5
const SESSIONS = quick ? 20_000 : 100_000
const profileAt = process.argv.indexOf('--cpu-prof')
const profileDir = profileAt > 0 ? path.resolve(process.argv[profileAt + 1] ?? 'profiles') : undefined

ensureWrk()

interface Started {
  proc: NodeProcess
  http: number
  admin: number
}

/** `profile` names the scenario's folder under --cpu-prof DIR (no profile without it). */
async function cluster(size: number, extra: string[] = [], profile?: string): Promise<Started[]> {
  const receivers = await freePorts(size)
  const out: Started[] = []
  for (let i = 0; i < size; i++) {
    const [http, admin] = (await freePorts(2)) as [number, number]
    const name = `b${i + 1}`
    const profiled = profileDir && profile ? path.join(profileDir, profile, name) : undefined
    const proc = new NodeProcess(
      name,
      [
        ...loopbackNodeArgs({ receiver: receivers[i] as number, members: receivers, http, admin }),
        '--log-level',
        'warn',
        ...extra,
      ],
      profiled ? { command: [process.execPath, '--cpu-prof', '--cpu-prof-dir', profiled, MAIN] } : {},
    )
    out.push({ proc, http, admin })
  }
  await Promise.all(
    out.map((s) =>
      s.proc.waitFor((l) => l.msg === 'node started' || l.event === 'started', 30_000).catch(() => undefined),
    ),
  )
  await untilReady(out)
  return out
}

async function untilReady(nodes: Started[]): Promise<void> {
  for (const n of nodes) {
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${n.admin}/status`)
        .then((r) => r.json() as Promise<{ ready: boolean; members: unknown[] }>)
        .then((s) => s.ready && s.members.length === nodes.length - 1)
        .catch(() => false)
      if (ok) break
      await sleep(50)
    }
  }
}

function wrk(
  url: string,
  cookie?: string,
  script?: string,
  duration = DURATION,
): { rps: number; p50: string; p99: string } {
  const args = [
    '-t1',
    '-c8',
    `-d${duration}`,
    '--latency',
    ...(cookie ? ['-H', `Cookie: ${cookie}`] : []),
    ...(script ? ['-s', script] : []),
    url,
  ]
  const out = execFileSync('wrk', args, { encoding: 'utf8' })
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1])
  const p50 = /\s50%\s+(\S+)/.exec(out)?.[1] ?? '?'
  const p99 = /\s99%\s+(\S+)/.exec(out)?.[1] ?? '?'
  return { rps, p50, p99 }
}

async function cookieFrom(http: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${http}/demo/inc`)
  return (/JSESSIONID=[^;]+/.exec(res.headers.get('set-cookie') ?? '') ?? [''])[0]
}

async function throughput(): Promise<void> {
  const pct = (x: number, of: number) => `${Math.round((100 * x) / of)}%`
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
  console.log(
    `# session benchmark (${quick ? 'quick' : 'full'}), Node ${process.version}, ${new Date().toISOString()}`,
  )

  // Every scenario runs side by side: all processes start first and stay up (idle when not loaded),
  // and the rounds alternate between scenarios, so a slow spell of this shared machine hits them all.
  const [barePort] = (await freePorts(1)) as [number]
  const bare = new NodeProcess('bare', [], {
    command: [process.execPath, path.join(import.meta.dirname, 'bare-fastify.ts'), String(barePort)],
  })
  await bare.waitFor((l) => l.event === 'started')
  const [lone] = (await cluster(1, ['--manager', 'standard'], 'off')) as [Started]
  const asyncNodes = await cluster(3, ['--send-options', '8'], 'async')
  const syncNodes = await cluster(3, ['--send-options', '6'], 'sync')
  const secretFile = path.join(os.tmpdir(), `cattery-bench-secret-${process.pid}`)
  writeFileSync(secretFile, randomBytes(32).toString('base64'), { mode: 0o600 })
  const secured = ['--cluster-secret-file', secretFile]
  const asyncSecret = withSecret ? await cluster(3, ['--send-options', '8', ...secured], 'async-secret') : []
  const syncSecret = withSecret ? await cluster(3, ['--send-options', '6', ...secured], 'sync-secret') : []

  interface Scenario {
    label: string
    url: string
    cookie?: string
    pids: number[]
    runs: Array<ReturnType<typeof wrk> & { cpuUs: number[] }>
  }
  const scenario = async (label: string, nodes: Started[] | undefined, port?: number): Promise<Scenario> => {
    const first = nodes?.[0]
    return {
      label,
      url: `http://127.0.0.1:${first?.http ?? port}/demo/inc`,
      ...(first ? { cookie: await cookieFrom(first.http) } : {}),
      pids: nodes?.map((n) => n.proc.child.pid as number) ?? [bare.child.pid as number],
      runs: [],
    }
  }
  const scenarios = [
    await scenario('bare fastify route (ceiling)', undefined, barePort),
    await scenario('one node, replication off (standard manager)', [lone]),
    await scenario('3-node cluster, DeltaManager, async (8)', asyncNodes),
    await scenario('3-node cluster, DeltaManager, synchronous (6)', syncNodes),
    ...(withSecret
      ? [
          await scenario('3-node cluster, DeltaManager, async (8), secret', asyncSecret),
          await scenario('3-node cluster, DeltaManager, synchronous (6), secret', syncSecret),
        ]
      : []),
  ]
  const [ceilingS, offS, asyncS, syncS, asyncSecretS, syncSecretS] = scenarios as [
    Scenario,
    Scenario,
    Scenario,
    Scenario,
    Scenario | undefined,
    Scenario | undefined,
  ]
  // A short run each first, not counted: the JIT compiles the hot paths of every process.
  for (const s of scenarios) wrk(s.url, s.cookie, undefined, '2s')
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of scenarios) {
      const before = s.pids.map(cpuSeconds)
      const r = wrk(s.url, s.cookie)
      const requests = r.rps * Number.parseFloat(DURATION)
      s.runs.push({
        ...r,
        cpuUs: s.pids.map((pid, i) => ((cpuSeconds(pid) - (before[i] ?? 0)) * 1e6) / requests),
      })
    }
    console.log(
      `round ${round + 1}/${ROUNDS}: ${scenarios.map((s) => Math.round(s.runs.at(-1)?.rps ?? 0)).join(' / ')} requests/s`,
    )
  }
  const asyncRatios = asyncS.runs.map((r, i) => r.rps / (offS.runs[i]?.rps ?? 1))
  console.log()
  console.log(
    '| scenario | requests/s (median) | p50 | p99 | vs replication off | vs bare fastify | CPU per request: serving node / each peer |',
  )
  console.log('| --- | --- | --- | --- | --- | --- | --- |')
  for (const s of scenarios) {
    const rps = median(s.runs.map((r) => r.rps))
    const mid = s.runs.find((r) => r.rps === rps) as Scenario['runs'][number]
    const cpu = s.pids.length
      ? [0, 1]
          .filter((i) => i < s.pids.length)
          .map((i) => `${median(s.runs.map((r) => r.cpuUs[i] ?? 0)).toFixed(1)} µs`)
          .join(' / ')
      : '-'
    const vsOff =
      s === ceilingS ? '-' : pct(median(s.runs.map((r, i) => r.rps / (offS.runs[i]?.rps ?? 1))), 1)
    const vsBare = pct(median(s.runs.map((r, i) => r.rps / (ceilingS.runs[i]?.rps ?? 1))), 1)
    console.log(
      `| ${s.label} | ${Math.round(rps)} | ${mid.p50} | ${mid.p99} | ${vsOff} | ${vsBare} | ${cpu} |`,
    )
  }
  console.log()
  console.log(
    `async vs replication off, per round: ${asyncRatios.map((x) => pct(x, 1)).join(', ')} (median ${pct(median(asyncRatios), 1)}; goal ≥ 80%)`,
  )
  for (const [plain, secret] of [
    [asyncS, asyncSecretS],
    [syncS, syncSecretS],
  ] as const) {
    if (!secret) continue
    const ratios = secret.runs.map((r, i) => r.rps / (plain.runs[i]?.rps ?? 1))
    console.log(
      `${secret.label} vs without a secret, per round: ${ratios.map((x) => pct(x, 1)).join(', ')} (median ${pct(median(ratios), 1)}; goal ≥ 90%)`,
    )
  }
  await Promise.all(
    [bare, lone.proc, ...[...asyncNodes, ...syncNodes, ...asyncSecret, ...syncSecret].map((n) => n.proc)].map(
      (p) => p.stop(profileDir ? 'SIGTERM' : 'SIGKILL'),
    ),
  )
  if (profileDir) console.log(`CPU profiles in ${profileDir}`)
}
if (!process.argv.includes('--transfer-only')) await throughput()
if (profileDir || process.argv.includes('--throughput-only')) process.exit(0)

// State transfer: SESSIONS sessions of 1 KB on one node, then a joiner; a first joiner at half of them
// gives the memory a session adds at the margin (fixed costs, such as the young generation V8 grows
// during a transfer and keeps, cancel out).
const script = path.join(os.tmpdir(), `cattery-create-${process.pid}.lua`)
writeFileSync(script, `wrk.path = "/demo/set?k=data&v=${'x'.repeat(1000)}"\n`)
const receivers = await freePorts(3)
const node = (name: string, i: number, http: number, admin: number, argv: string[] = []) =>
  new NodeProcess(
    name,
    [
      ...loopbackNodeArgs({ receiver: receivers[i] as number, members: receivers, http, admin }),
      '--log-level',
      'warn',
    ],
    argv.length ? { command: [process.execPath, ...argv, MAIN] } : {},
  )
const statusOf = async (admin: number, gc = false) =>
  (await (await fetch(`http://127.0.0.1:${admin}/status${gc ? '?gc=1' : ''}`)).json()) as {
    contexts: Array<{ sessions: number }>
    memory: { heapUsed: number }
  }
const rssOf = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024
const [dh, da] = (await freePorts(2)) as [number, number]
const donor = node('donor', 0, dh, da)
await untilReady([{ proc: donor, http: dh, admin: da }])
const count = async () => (await statusOf(da)).contexts[0]?.sessions ?? 0
const fill = async (target: number) => {
  while ((await count()) < target) {
    execFileSync('wrk', ['-t1', '-c16', '-d2s', '-s', script, `http://127.0.0.1:${dh}/`], {
      encoding: 'utf8',
    })
  }
  return count()
}

/** Starts a joiner, times it to /readyz, and takes its memory a second later (heap after a full GC). */
async function join(name: string, i: number) {
  const [http, admin] = (await freePorts(2)) as [number, number]
  const t0 = Date.now()
  const proc = node(name, i, http, admin, ['--expose-gc'])
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${admin}/readyz`)
      .then((r) => r.status === 200)
      .catch(() => false)
    if (ok) break
    await sleep(10)
  }
  const readyMs = Date.now() - t0
  await sleep(1000)
  const s = await statusOf(admin, true) // after a full GC, so RSS and heap are read at the same point
  const rss = rssOf(proc.child.pid as number)
  await proc.stop('SIGKILL')
  return { readyMs, rss, heap: s.memory.heapUsed, sessions: s.contexts[0]?.sessions ?? 0 }
}

// An idle node, for the baseline memory.
const [ih, ia, ir] = (await freePorts(3)) as [number, number, number]
const idle = new NodeProcess(
  'idle',
  [
    '--apps-dir',
    EXAMPLE_APPS,
    '--receiver-host',
    '127.0.0.1',
    '--receiver-port',
    String(ir),
    '--membership',
    'static',
    '--http-host',
    '127.0.0.1',
    '--http-port',
    String(ih),
    // On loopback: the admin server answers /status without a token only there.
    '--admin-host',
    '127.0.0.1',
    '--admin-port',
    String(ia),
    '--log-level',
    'warn',
  ],
  { command: [process.execPath, '--expose-gc', MAIN] },
)
await untilReady([{ proc: idle, http: ih, admin: ia }])
await sleep(1000)
const baselineHeap = (await statusOf(ia, true)).memory.heapUsed
const baseline = { rss: rssOf(idle.child.pid as number), heap: baselineHeap }
await idle.stop('SIGKILL')

await fill(SESSIONS / 2)
const half = await join('half-joiner', 1)
const held = await fill(SESSIONS)
const full = await join('joiner', 2)
const mib = (n: number) => Math.round(n / 2 ** 20)
const per = (a: number, b: number, n: number) => Math.round((a - b) / n)
const margin = full.sessions - half.sessions
console.log()
console.log('| state transfer | result | goal |')
console.log('| --- | --- | --- |')
console.log(
  `| ${held.toLocaleString('en')} sessions of 1 KB: joiner start to /readyz | ${full.readyMs} ms (holding ${full.sessions.toLocaleString('en')}) | under 3,000 ms |`,
)
console.log(
  `| joiner memory per session: JS heap after GC (${mib(full.heap)} MiB minus an idle node's ${mib(baseline.heap)} MiB) | ${per(full.heap, baseline.heap, full.sessions)} bytes | under 2,048 bytes |`,
)
console.log(
  `| joiner memory per session: RSS (${mib(full.rss)} MiB minus an idle node's ${mib(baseline.rss)} MiB) | ${per(full.rss, baseline.rss, full.sessions)} bytes | under 2,048 bytes |`,
)
console.log(
  `| joiner memory per session at the margin: RSS (${mib(full.rss)} MiB with ${full.sessions.toLocaleString('en')} minus ${mib(half.rss)} MiB with ${half.sessions.toLocaleString('en')}) | ${per(full.rss, half.rss, margin)} bytes | under 2,048 bytes |`,
)
console.log(
  `| joiner memory per session at the margin: JS heap after GC (${mib(full.heap)} minus ${mib(half.heap)} MiB) | ${per(full.heap, half.heap, margin)} bytes | under 2,048 bytes |`,
)
await donor.stop('SIGKILL')
process.exit(0)
