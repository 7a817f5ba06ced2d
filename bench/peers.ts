/**
 * Cattery beside its peers, same machine, same load, same run (issue 16, first part): a Tomcat 10.1
 * cluster (SimpleTcpCluster + DeltaManager, bench/peers/tomcat.ts) and Node.js sessions in Redis
 * (fastify + @fastify/session + connect-redis, bench/peers/redis.ts), each with 3 nodes, plus the
 * single-node figures (Cattery with replication off, a plain Tomcat, a bare fastify route as the
 * ceiling). Load: wrk, one thread, 8 connections, one session (its cookie), all requests to the
 * first node: `/demo/inc` (a replicated write) and `/demo/get` (a read on a clustered node). Every
 * system starts first and stays up; after a warm-up each round runs every scenario once, in the same
 * order, and the report gives medians and per-round ratios. Then the many-sessions rounds
 * (peers/many-sessions.ts): thousands of sessions of 1 KB, round-robin over the 3 nodes, 90/10 and
 * 50/50 reads/writes, CPU per request, and a count of lost updates after each write-heavy round; its
 * load generator is a Go program (peers/load/, built into ~/.cache/cattery/bench/ on first use, so Go
 * must be installed). Peers are installed from Debian (tomcat10, redis-server) and npm
 * (devDependencies) when missing.
 *   node bench/peers.ts [--quick]
 * Results: bench/RESULTS.md ("Peers").
 */
import { spawn } from 'node:child_process'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { startCattery } from './lib/cattery.ts'
import { freePorts } from './lib/ports.ts'
import { stopChild } from './lib/processes.ts'
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
  runs: WrkResult[]
}

/** The session cookie a first request sets (name=value). */
async function sessionCookie(base: string): Promise<string> {
  const res = await fetch(`${base}/demo/inc`)
  const cookie = res.headers.getSetCookie()[0]?.split(';')[0]
  if (!res.ok || !cookie) throw new Error(`${base}/demo/inc gave no session cookie (${res.status})`)
  return cookie
}

async function startBare(): Promise<{ port: number; stop(): Promise<void> }> {
  const [port] = (await freePorts(1)) as [number]
  const child = spawn(process.execPath, [path.join(import.meta.dirname, 'bare-fastify.ts'), String(port)], {
    stdio: 'ignore',
  })
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}/demo/inc`)
      .then((r) => r.ok)
      .catch(() => false)
    if (ok) return { port, stop: () => stopChild(child) }
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

const [bare, lone, catAsync, catSync, tomLone, tomAsync, tomSync, redis] = await startAll([
  startBare(),
  startCattery(1, ['--manager', 'standard'], 'lone'),
  startCattery(3, ['--send-options', '8'], 'a'),
  startCattery(3, ['--send-options', '6'], 's'),
  ports(1).then((p) => startTomcatCluster({ ports: p, clustered: false })),
  ports(3).then((p) => startTomcatCluster({ ports: p, clustered: true, channelSendOptions: 8 })),
  ports(3).then((p) => startTomcatCluster({ ports: p, clustered: true, channelSendOptions: 6 })),
  freePorts(4).then(([r, ...h]) => startRedisPeer(r as number, h)),
])
console.log(`# Tomcat ${tomAsync.version}, Redis ${redis.version}; every system up after ${elapsed()}`)

const url = (port: number) => `http://127.0.0.1:${port}`
const scenario = async (key: string, label: string, port: number, op: 'inc' | 'get', session = true) => ({
  key,
  label,
  url: `${url(port)}/demo/${op === 'get' ? 'get?k=count' : 'inc'}`,
  cookie: session ? await sessionCookie(url(port)) : undefined,
  runs: [],
})
const first = (c: { nodes: Array<{ http: number }> }) => (c.nodes[0] as { http: number }).http
const scenarios: Scenario[] = [
  await scenario('bare', 'bare fastify route (ceiling)', bare.port, 'inc', false),
  await scenario('catLone', 'Cattery, one node, replication off', first(lone), 'inc'),
  await scenario('tomLone', 'Tomcat, one node, no cluster', first(tomLone), 'inc'),
  await scenario('catAsync', 'Cattery, 3 nodes, async (8): write', first(catAsync), 'inc'),
  await scenario('tomAsync', 'Tomcat, 3 nodes, DeltaManager async (8): write', first(tomAsync), 'inc'),
  await scenario('redis', 'fastify + connect-redis, 3 nodes: write', first(redis), 'inc'),
  await scenario('catSync', 'Cattery, 3 nodes, sync (6): write', first(catSync), 'inc'),
  await scenario('tomSync', 'Tomcat, 3 nodes, DeltaManager sync (6): write', first(tomSync), 'inc'),
  await scenario('catRead', 'Cattery, 3 nodes, async (8): read', first(catAsync), 'get'),
  await scenario('tomRead', 'Tomcat, 3 nodes, async (8): read', first(tomAsync), 'get'),
  await scenario('redisRead', 'fastify + connect-redis, 3 nodes: read', first(redis), 'get'),
]
const by = (key: string) => scenarios.find((s) => s.key === key) as Scenario

try {
  // Warm-up, not counted: the JIT (V8's and the JVM's) compiles the hot paths of every process.
  for (const s of scenarios) wrk(s.url, { cookie: s.cookie, duration: quick ? '2s' : '5s' })
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of scenarios) s.runs.push(wrk(s.url, { cookie: s.cookie, duration: DURATION }))
    console.log(
      `round ${round + 1}/${ROUNDS}: ${scenarios.map((s) => Math.round(s.runs.at(-1)?.rps ?? 0)).join(' / ')}`,
    )
  }
  console.log()
  console.log('| scenario | requests/s (median) | p50 | p99 |')
  console.log('| --- | --- | --- | --- |')
  for (const s of scenarios) {
    const rps = median(s.runs.map((r) => r.rps))
    const mid = s.runs.find((r) => r.rps === rps) as WrkResult
    console.log(`| ${s.label} | ${Math.round(rps)} | ${mid.p50} | ${mid.p99} |`)
  }
  console.log()
  const ratio = (a: string, b: string, goal: string) => {
    const per = by(a).runs.map((r, i) => r.rps / (by(b).runs[i]?.rps ?? 1))
    console.log(
      `${by(a).label} / ${by(b).label}: ${per.map((x) => x.toFixed(2)).join(', ')} (median ${median(per).toFixed(2)}x; goal ${goal})`,
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
  const pidsOf = (c: { nodes: Array<{ pid: number }> }) => c.nodes.map((n) => n.pid)
  console.log(`# one-session rounds done after ${elapsed()}`)
  await manySessions(
    [
      { label: 'Cattery, async (8)', nodes: nodesOf(catAsync), pids: pidsOf(catAsync) },
      { label: 'Tomcat, DeltaManager async (8)', nodes: nodesOf(tomAsync), pids: pidsOf(tomAsync) },
      { label: 'fastify + connect-redis', nodes: nodesOf(redis), pids: [...pidsOf(redis), redis.redisPid] },
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
  await Promise.all([bare, lone, catAsync, catSync, tomLone, tomAsync, tomSync, redis].map((c) => c.stop()))
}
