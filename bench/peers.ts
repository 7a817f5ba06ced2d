/**
 * Cattery beside its peers, same machine, same load, same run (issue 16, first part): a Tomcat 10.1
 * cluster (SimpleTcpCluster + DeltaManager, bench/peers/tomcat.ts) and Node.js sessions in Redis
 * (fastify + @fastify/session + connect-redis, bench/peers/redis.ts), each with 3 nodes, plus the
 * single-node figures (Cattery with replication off, a plain Tomcat, a bare fastify route as the
 * ceiling). Load: wrk, one thread, 8 connections, one session (its cookie), all requests to the
 * first node: `/demo/inc` (a replicated write) and `/demo/get` (a read on a clustered node). Every
 * system starts first and stays up; after a warm-up each round runs every scenario once, in the same
 * order, and the report gives medians and per-round ratios, by requests/s and by the CPU each
 * system's processes spent per request (/proc; Redis's server included), with wrk's own CPU per
 * request beside them: all share two cores, so the generator's share bounds every ratio of requests/s.
 * Then the many-sessions rounds
 * (peers/many-sessions.ts): thousands of sessions of 1 KB, round-robin over the 3 nodes, 90/10 and
 * 50/50 reads/writes, CPU per request, and a count of lost updates after each write-heavy round,
 * with three bare fastify processes answering the same routes as the ceiling in the same rounds; its
 * load generator is a Go program (peers/load/, built into ~/.cache/cattery/bench/ on first use, so Go
 * must be installed). Peers are installed from Debian (tomcat10, redis-server) and npm
 * (devDependencies) when missing.
 *   node bench/peers.ts [--quick]
 * Results: bench/RESULTS.md ("Peers").
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePorts } from '../scripts/lib/node-process.ts'
import { startCattery } from './lib/cattery.ts'
import { cpuSeconds, stopChild } from './lib/processes.ts'
import { ensureWrk, median, type WrkResult, wrk } from './lib/wrk.ts'
import { ensureLoadGenerator } from './peers/load-generator.ts'
import { manySessions } from './peers/many-sessions.ts'
import { startRedisPeer } from './peers/redis.ts'
import { startTomcatCluster } from './peers/tomcat.ts'

const quick = process.argv.includes('--quick')
const t0 = performance.now()
const elapsed = () => `${Math.round((performance.now() - t0) / 1000)} s`
const DURATION = quick ? '2s' : '5s'
const ROUNDS = quick ? 3 : 5

interface Scenario {
  key: string
  label: string
  url: string
  cookie?: string | undefined
  /** The system's processes (its nodes, and Redis), for the CPU they use per request. */
  pids: number[]
  runs: WrkResult[]
  /** Per run: the system's CPU per request, in µs. */
  cpuUs: number[]
}

/** The cookies a first request sets, as a Cookie header (name=value; name=value). */
async function sessionCookie(base: string): Promise<string> {
  const res = await fetch(`${base}/demo/inc`)
  // Every cookie the first answer sets, as a browser sends them back (Cattery's version cookie too).
  const cookies = res.headers.getSetCookie().map((c) => c.split(';')[0] as string)
  if (!res.ok || cookies.length === 0)
    throw new Error(`${base}/demo/inc gave no session cookie (${res.status})`)
  return cookies.join('; ')
}

async function startBare(): Promise<{ port: number; pid: number; stop(): Promise<void> }> {
  const [port] = (await freePorts(1)) as [number]
  const child = spawn(process.execPath, [path.join(import.meta.dirname, 'bare-fastify.ts'), String(port)], {
    stdio: 'ignore',
  })
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}/demo/inc`)
      .then((r) => r.ok)
      .catch(() => false)
    if (ok) return { port, pid: child.pid as number, stop: () => stopChild(child) }
    await sleep(50)
  }
}

ensureWrk()
ensureLoadGenerator()
console.log(
  `# peers benchmark (${quick ? 'quick' : 'full'}), Node ${process.version}, ${new Date().toISOString()}`,
)
console.log(
  `# ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.cpus()[0]?.model ?? ''}`,
)

const ports = async (n: number) => {
  const p = await freePorts(2 * n)
  return Array.from({ length: n }, (_, i) => ({ http: p[2 * i] as number, receiver: p[2 * i + 1] as number }))
}
/** Waits for every system; when one fails to start, stops the others, which would outlive the benchmark. */
async function startAll<T extends ReadonlyArray<{ stop(): Promise<void> }>>(
  starting: {
    [K in keyof T]: Promise<T[K]>
  },
): Promise<T> {
  const settled = await Promise.allSettled(starting as ReadonlyArray<Promise<T[number]>>)
  const failed = settled.find((s) => s.status === 'rejected')
  if (failed) {
    await Promise.all(settled.map((s) => (s.status === 'fulfilled' ? s.value.stop() : undefined)))
    throw failed.reason
  }
  return settled.map((s) => (s as PromiseFulfilledResult<T[number]>).value) as unknown as T
}

const [bare, lone, catAsync, catSync, tomLone, tomAsync, tomSync, redis, bare3] = await startAll([
  startBare(),
  startCattery(1, ['--manager', 'standard'], 'lone'),
  startCattery(3, ['--send-options', '8'], 'a'),
  startCattery(3, ['--send-options', '6'], 's'),
  ports(1).then((p) => startTomcatCluster({ ports: p, clustered: false })),
  ports(3).then((p) => startTomcatCluster({ ports: p, clustered: true, channelSendOptions: 8 })),
  ports(3).then((p) => startTomcatCluster({ ports: p, clustered: true, channelSendOptions: 6 })),
  freePorts(4).then(([r, ...h]) => startRedisPeer(r as number, h)),
  Promise.all([startBare(), startBare(), startBare()]).then((b) => ({
    nodes: b.map((x) => ({ http: x.port, pid: x.pid })),
    stop: () => Promise.all(b.map((x) => x.stop())).then(() => undefined),
  })),
])
/** An installed npm package's version (the peers' and Cattery's own libraries). */
const npmVersion = (name: string): string =>
  (
    JSON.parse(
      readFileSync(path.join(import.meta.dirname, '..', 'node_modules', name, 'package.json'), 'utf8'),
    ) as { version: string }
  ).version
console.log(
  `# Tomcat ${tomAsync.version}, Redis ${redis.version}, ${['fastify', '@fastify/session', 'connect-redis', 'redis'].map((n) => `${n} ${npmVersion(n)}`).join(', ')}; every system up after ${elapsed()}`,
)

const url = (port: number) => `http://127.0.0.1:${port}`
type System = { nodes: Array<{ http: number; pid: number }>; redisPid?: number }
const bareSystem: System = { nodes: [{ http: bare.port, pid: bare.pid }] }
const pidsOf = (c: System) => [...c.nodes.map((n) => n.pid), ...(c.redisPid ? [c.redisPid] : [])]
const scenario = async (key: string, label: string, system: System, op: 'inc' | 'get') => {
  const port = (system.nodes[0] as { http: number }).http
  return {
    key,
    label,
    url: `${url(port)}/demo/${op === 'get' ? 'get?k=count' : 'inc'}`,
    cookie: system === bareSystem ? undefined : await sessionCookie(url(port)),
    pids: pidsOf(system),
    runs: [],
    cpuUs: [],
  }
}
const scenarios: Scenario[] = [
  await scenario('bare', 'bare fastify route (ceiling)', bareSystem, 'inc'),
  await scenario('catLone', 'Cattery, one node, replication off', lone, 'inc'),
  await scenario('tomLone', 'Tomcat, one node, no cluster', tomLone, 'inc'),
  await scenario('catAsync', 'Cattery, 3 nodes, async (8): write', catAsync, 'inc'),
  await scenario('tomAsync', 'Tomcat, 3 nodes, DeltaManager async (8): write', tomAsync, 'inc'),
  await scenario('redis', 'fastify + connect-redis, 3 nodes: write', redis, 'inc'),
  await scenario('catSync', 'Cattery, 3 nodes, sync (6): write', catSync, 'inc'),
  await scenario('tomSync', 'Tomcat, 3 nodes, DeltaManager sync (6): write', tomSync, 'inc'),
  await scenario('catRead', 'Cattery, 3 nodes, async (8): read', catAsync, 'get'),
  await scenario('tomRead', 'Tomcat, 3 nodes, async (8): read', tomAsync, 'get'),
  await scenario('redisRead', 'fastify + connect-redis, 3 nodes: read', redis, 'get'),
]
const by = (key: string) => scenarios.find((s) => s.key === key) as Scenario

try {
  // Warm-up, not counted: the JIT (V8's and the JVM's) compiles the hot paths of every process.
  for (const s of scenarios) wrk(s.url, { cookie: s.cookie, duration: quick ? '2s' : '5s' })
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of scenarios) {
      const cpu = () => s.pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0)
      const before = cpu()
      const run = wrk(s.url, { cookie: s.cookie, duration: DURATION })
      s.cpuUs.push(((cpu() - before) * 1e6) / run.requests)
      s.runs.push(run)
    }
    console.log(
      `round ${round + 1}/${ROUNDS}: ${scenarios.map((s) => Math.round(s.runs.at(-1)?.rps ?? 0)).join(' / ')}`,
    )
  }
  console.log()
  console.log('| scenario | requests/s (median) | p50 | p99 | CPU µs/request (median) | wrk CPU µs/request |')
  console.log('| --- | --- | --- | --- | --- | --- |')
  for (const s of scenarios) {
    const rps = median(s.runs.map((r) => r.rps))
    const mid = s.runs.find((r) => r.rps === rps) as WrkResult
    const wrkUs = median(s.runs.map((r) => (r.cpuSeconds * 1e6) / r.requests))
    console.log(
      `| ${s.label} | ${Math.round(rps)} | ${mid.p50} | ${mid.p99} | ${median(s.cpuUs).toFixed(1)} | ${wrkUs.toFixed(1)} |`,
    )
  }
  console.log()
  const ratio = (a: string, b: string, goal: string) => {
    const per = by(a).runs.map((r, i) => r.rps / (by(b).runs[i]?.rps ?? 1))
    console.log(
      `${by(a).label} / ${by(b).label}: ${per.map((x) => x.toFixed(2)).join(', ')} (median ${median(per).toFixed(2)}x; goal ${goal})`,
    )
    // The same pair by CPU per request (b's over a's): what each system costs, whoever shares the cores.
    const cpu = by(a).cpuUs.map((x, i) => (by(b).cpuUs[i] ?? 0) / x)
    console.log(
      `  CPU per request, ${by(b).key} / ${by(a).key}: ${cpu.map((x) => x.toFixed(2)).join(', ')} (median ${median(cpu).toFixed(2)}x)`,
    )
  }
  ratio('catAsync', 'tomAsync', '≥ 2x')
  ratio('catAsync', 'redis', '≥ 3x')
  ratio('catSync', 'tomSync', '≥ 1.5x')
  ratio('catRead', 'tomRead', '≥ 2.5x')
  ratio('catRead', 'redisRead', '≥ 3x')
  ratio('catLone', 'bare', '≥ 0.75x')
  ratio('catLone', 'tomLone', '> 1x')
  console.log()
  const nodesOf = (c: { nodes: Array<{ http: number }> }) => c.nodes.map((n) => url(n.http))
  console.log(`# one-session rounds done after ${elapsed()}`)
  await manySessions(
    [
      { label: 'Cattery, async (8)', nodes: nodesOf(catAsync), pids: pidsOf(catAsync) },
      { label: 'Tomcat, DeltaManager async (8)', nodes: nodesOf(tomAsync), pids: pidsOf(tomAsync) },
      { label: 'fastify + connect-redis', nodes: nodesOf(redis), pids: pidsOf(redis) },
      {
        label: 'bare fastify, 3 processes (ceiling)',
        nodes: nodesOf(bare3),
        pids: pidsOf(bare3),
        ceiling: true,
      },
    ],
    {
      sessions: quick ? 2000 : 10_000,
      rounds: quick ? 2 : 3,
      durationMs: quick ? 2000 : 5000,
      concurrency: 16,
    },
  )
  console.log(`# many-sessions rounds done after ${elapsed()}`)
} finally {
  await Promise.all(
    [bare, lone, catAsync, catSync, tomLone, tomAsync, tomSync, redis, bare3].map((c) => c.stop()),
  )
}
