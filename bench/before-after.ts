/**
 * The same scenario served by two versions of the node side by side, to measure a change on a busy
 * machine: the working tree against a git revision (exported with `git archive` to a temporary
 * directory that shares this tree's node_modules). Both versions' processes start first and stay up;
 * rounds of wrk (-t1 -c8, `GET /demo/inc`, one session) alternate between them, each round's order
 * reversed from the last; it prints the CPU each version's serving node and peers spent per request
 * (from /proc, so how the cores are shared matters less), the requests/s (what a change of latency
 * moves: synchronous replication is bound by its round trips, not by CPU) and the per-round ratios
 * new/old.
 *   node bench/before-after.ts <git-rev> [off|async|sync|many|backup] [rounds=8] [--pad] [--connections=8]
 * off: one node, standard manager; async / sync: node 1 of a 3-node DeltaManager cluster (8 / 6);
 * backup: node 1 of a 3-node BackupManager cluster (k = 1, its default mapSendOptions 6).
 * many: the many-sessions load of bench/peers.ts on a 3-node asynchronous cluster — 10,000 sessions
 * of 1 KB, 16 users round-robin over the 3 nodes, 50% writes (the Go load generator); the serving
 * node's column is then node 1's share.
 * --connections: wrk's keep-alive connections (clients with a request in flight each).
 * --pad: the session also holds a 1 KB string attribute (as in bench/peers/many-sessions.ts) that
 * the requests do not change.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePorts, loopbackNodeArgs, NodeProcess } from '../scripts/lib/node-process.ts'
import { cpuSeconds } from './lib/processes.ts'
import { ensureWrk, wrk } from './lib/wrk.ts'
import { ensureLoadGenerator, type Jar, runLoad } from './peers/load-generator.ts'

const ROOT = path.resolve(import.meta.dirname, '..')
const pad = process.argv.includes('--pad')
const connections = Number(
  /^--connections=(\d+)$/.exec(process.argv.find((a) => a.startsWith('--connections=')) ?? '')?.[1] ?? 8,
)
const [rev, mode = 'async', roundsArg = '8'] = process.argv.slice(2).filter((a) => !a.startsWith('--'))
if (!rev || !['off', 'async', 'sync', 'many', 'backup'].includes(mode)) {
  console.error('usage: node bench/before-after.ts <git-rev> [off|async|sync|many|backup] [rounds]')
  process.exit(2)
}
const ROUNDS = Number(roundsArg)
const DURATION = '3s'
ensureWrk()
if (mode === 'many') ensureLoadGenerator()

const oldRoot = mkdtempSync(path.join(os.tmpdir(), 'cattery-before-'))
execFileSync('sh', ['-c', `git -C "${ROOT}" archive "${rev}" | tar -x -C "${oldRoot}"`])
symlinkSync(path.join(ROOT, 'node_modules'), path.join(oldRoot, 'node_modules'))

interface Side {
  label: string
  nodes: Array<{ proc: NodeProcess; http: number; admin: number }>
  cookie: string
  /** many: the sessions' cookie jars. */
  jars: Jar[]
  cpu: number[]
  peers: number[]
  rps: number[]
}

async function start(label: string, root: string): Promise<Side> {
  const size = mode === 'off' ? 1 : 3
  const extra =
    mode === 'off'
      ? ['--manager', 'standard']
      : mode === 'backup'
        ? ['--manager', 'backup']
        : ['--send-options', mode === 'sync' ? '6' : '8']
  // many: the same cluster, whatever the flags (an async DeltaManager cluster).
  const receivers = await freePorts(size)
  const nodes: Side['nodes'] = []
  for (let i = 0; i < size; i++) {
    const [http, admin] = (await freePorts(2)) as [number, number]
    const appsDir = path.join(root, 'examples/apps')
    const args = loopbackNodeArgs({
      receiver: receivers[i] as number,
      members: receivers,
      http,
      admin,
      appsDir,
    })
    // A revision from before app bases (issue 14) serves /demo built in and knows no --apps-dir.
    if (!existsSync(appsDir)) args.splice(args.indexOf('--apps-dir'), 2)
    const proc = new NodeProcess(`${label}${i + 1}`, [...args, '--log-level', 'warn', ...extra], {
      command: [process.execPath, path.join(root, 'node/main.ts')],
    })
    nodes.push({ proc, http, admin })
  }
  for (const n of nodes) {
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${n.admin}/status`)
        .then((r) => r.json() as Promise<{ ready: boolean; members: unknown[] }>)
        .then((s) => s.ready && s.members.length === size - 1)
        .catch(() => false)
      if (ok) break
      await sleep(100)
    }
  }
  const first = nodes[0] as Side['nodes'][number]
  const res = await fetch(`http://127.0.0.1:${first.http}/demo/inc`)
  const cookie = (/JSESSIONID=[^;]+/.exec(res.headers.get('set-cookie') ?? '') ?? [''])[0]
  if (pad)
    await fetch(`http://127.0.0.1:${first.http}/demo/set?k=pad&v=${'x'.repeat(1000)}`, {
      headers: { cookie },
    })
  let jars: Jar[] = []
  if (mode === 'many') {
    const filled = await runLoad({
      mode: 'fill',
      nodes: nodes.map((n) => `127.0.0.1:${n.http}`),
      jars: Array.from({ length: MANY_SESSIONS }, () => []),
      concurrency: 16,
      paths: [`/demo/set?k=pad&v=${'x'.repeat(1000)}`, '/demo/inc'],
    })
    jars = filled.jars
  }
  return { label, nodes, cookie, jars, cpu: [], peers: [], rps: [] }
}

const MANY_SESSIONS = 10_000

/** One run of the load against a side: its requests/s and its nodes' CPU per request. */
async function run(s: Side, duration: string): Promise<{ rps: number; us: number[] }> {
  const pids = s.nodes.map((n) => n.proc.child.pid as number)
  const before = pids.map(cpuSeconds)
  let rps: number
  let requests: number
  if (mode === 'many') {
    const r = await runLoad({
      mode: 'load',
      nodes: s.nodes.map((n) => `127.0.0.1:${n.http}`),
      jars: s.jars,
      concurrency: 16,
      durationMs: Number.parseFloat(duration) * 1000,
      writeRatio: 0.5,
    })
    s.jars = r.jars
    requests = r.requests
    rps = r.requests / (r.ms / 1000)
  } else {
    const r = wrk(url(s), { cookie: s.cookie, duration, connections })
    requests = r.requests
    rps = r.rps
  }
  return { rps, us: pids.map((pid, i) => ((cpuSeconds(pid) - (before[i] ?? 0)) * 1e6) / requests) }
}

const sides = [await start('old', oldRoot), await start('new', ROOT)]
const url = (s: Side) => `http://127.0.0.1:${s.nodes[0]?.http}/demo/inc`
for (const s of sides) await run(s, '2s') // JIT warm-up, not counted
for (let round = 0; round < ROUNDS; round++) {
  for (const s of round % 2 ? [...sides].reverse() : sides) {
    const { rps, us } = await run(s, DURATION)
    s.rps.push(rps)
    s.cpu.push(us[0] ?? 0)
    s.peers.push(us.slice(1).reduce((a, b) => a + b, 0))
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
const fmt = (xs: number[]) => xs.map((x) => x.toFixed(1)).join(', ')
console.log(
  `# before/after, ${mode}${pad ? ' with a 1 KB attribute' : ''}, ${connections} connections, ${rev} (old) against the working tree (new), ${new Date().toISOString()}`,
)
for (const s of sides) {
  console.log(
    `${s.label}: serving node ${median(s.cpu).toFixed(2)} µs/request (${fmt(s.cpu)})` +
      (mode === 'off' ? '' : `; peers together ${median(s.peers).toFixed(2)} µs/request`) +
      `; ${Math.round(median(s.rps))} requests/s`,
  )
}
const [oldSide, newSide] = sides as [Side, Side]
const ratios = newSide.cpu.map((x, i) => x / (oldSide.cpu[i] ?? 1))
console.log(
  `new/old serving-node CPU per round: ${ratios.map((x) => x.toFixed(3)).join(', ')} (median ${median(ratios).toFixed(3)})`,
)
const rpsRatios = newSide.rps.map((x, i) => x / (oldSide.rps[i] ?? 1))
console.log(
  `new/old requests/s per round: ${rpsRatios.map((x) => x.toFixed(3)).join(', ')} (median ${median(rpsRatios).toFixed(3)})`,
)
if (mode !== 'off') {
  const total = (s: Side, i: number) => (s.cpu[i] ?? 0) + (s.peers[i] ?? 0)
  const all = newSide.cpu.map((_, i) => total(newSide, i) / total(oldSide, i))
  console.log(
    `new/old CPU of all nodes per round: ${all.map((x) => x.toFixed(3)).join(', ')} (median ${median(all).toFixed(3)})`,
  )
}
await Promise.all(sides.flatMap((s) => s.nodes.map((n) => n.proc.stop('SIGKILL'))))
rmSync(oldRoot, { recursive: true, force: true })
process.exit(0)
