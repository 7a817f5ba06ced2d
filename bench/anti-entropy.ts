/**
 * What anti-entropy (node/session/anti-entropy.ts) costs a loaded cluster. For each manager, three
 * 3-node clusters holding the same number of 1 KB sessions, side by side: anti-entropy at its
 * default (`manager.antiEntropyInterval` 30000), every second (1000: 30 times as often, to show
 * its cost above the noise) and off (0). Interleaved wrk rounds (-t1 -c8, `GET /demo/inc`, one session) on node 1 of each, all
 * six clusters up for the whole run; medians and per-round ratios, and the CPU all three nodes
 * spent per request (from /proc). Then what the rounds did on the clusters with anti-entropy
 * (rounds, digests that differed, copies and ends pushed): in a cluster that lost nothing, the
 * copies pushed are those whose change was in flight when a digest was answered.
 *   node bench/anti-entropy.ts [--quick]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { type CatteryCluster, type CatteryNode, createSessions, startCattery } from './lib/cattery.ts'
import { cpuSeconds } from './lib/processes.ts'
import { ensureWrk, median, wrk } from './lib/wrk.ts'

const quick = process.argv.includes('--quick')
const SESSIONS = quick ? 20_000 : 100_000
const ROUNDS = quick ? 3 : 5
const SECONDS = quick ? 3 : 5
const VALUE = 'x'.repeat(1024)
ensureWrk()

const dir = mkdtempSync(path.join(os.tmpdir(), 'cattery-ae-bench-'))
function config(interval: number): string {
  const file = path.join(dir, `ae-${interval}.yaml`)
  writeFileSync(file, `manager:\n  antiEntropyInterval: ${interval}\n`)
  return file
}

interface Side {
  label: string
  cluster: CatteryCluster
  cookie: string
  rps: number[]
  cpu: number[]
}

async function demoStats(n: CatteryNode): Promise<{ sessions: number; stats: Record<string, unknown> }> {
  const url = `http://127.0.0.1:${n.admin}/status`
  // Once again on a connection the server closed as it was reused (keep-alive).
  const res = await fetch(url).catch(() => fetch(url))
  const s = (await res.json()) as {
    contexts: Array<{ path: string; sessions: number; stats: Record<string, unknown> }>
  }
  const c = s.contexts.find((x) => x.path === '/demo')
  if (!c) throw new Error(`${n.name}: no /demo context`)
  return c
}

async function start(kind: 'delta' | 'backup', interval: number, prefix: string): Promise<Side> {
  const send = kind === 'delta' ? ['--send-options', 'async'] : ['--map-send-options', 'async']
  const cluster = await startCattery(3, ['--manager', kind, ...send, '--config', config(interval)], prefix)
  await createSessions(cluster.nodes, SESSIONS, VALUE)
  const copies = kind === 'delta' ? 3 * SESSIONS : 2 * SESSIONS
  const deadline = Date.now() + 120_000
  for (;;) {
    const held = (await Promise.all(cluster.nodes.map(demoStats))).reduce((a, c) => a + c.sessions, 0)
    if (held === copies) break
    if (Date.now() > deadline) throw new Error(`${prefix}: ${held} copies held, expected ${copies}`)
    await sleep(500)
  }
  const first = cluster.nodes[0] as CatteryNode
  const r = await fetch(`http://127.0.0.1:${first.http}/demo/inc`)
  await r.arrayBuffer()
  const m = /JSESSIONID=([^;]+)/.exec(r.headers.get('set-cookie') ?? '')
  if (!m) throw new Error('no session cookie')
  const name = kind === 'delta' ? 'DeltaManager' : 'BackupManager (k=1)'
  return {
    label: `${name}, anti-entropy ${interval > 0 ? `every ${interval / 1000} s` : 'off'}${interval === 30_000 ? ' (default)' : ''}`,
    cluster,
    cookie: `JSESSIONID=${m[1]}`,
    rps: [],
    cpu: [],
  }
}

const out = (s = '') => process.stdout.write(`${s}\n`)
const started = Date.now()
/** Per manager: anti-entropy at its default, every second, off. */
const groups: Side[][] = []
try {
  for (const kind of ['delta', 'backup'] as const)
    groups.push([
      await start(kind, 30_000, `${kind[0]}d`),
      await start(kind, 1000, `${kind[0]}s`),
      await start(kind, 0, `${kind[0]}o`),
    ])
  const sides = groups.flat()
  const url = (s: Side) => `http://127.0.0.1:${s.cluster.nodes[0]?.http}/demo/inc`
  for (const s of sides) wrk(url(s), { cookie: s.cookie, duration: '2s' }) // JIT warm-up, not counted
  for (let round = 0; round < ROUNDS; round++)
    for (const s of round % 2 ? [...sides].reverse() : sides) {
      const pids = s.cluster.nodes.map((n) => n.pid)
      const before = pids.map(cpuSeconds)
      const { rps } = wrk(url(s), { cookie: s.cookie, duration: `${SECONDS}s` })
      const cpu = pids.reduce((a, pid, i) => a + cpuSeconds(pid) - (before[i] as number), 0)
      s.rps.push(rps)
      s.cpu.push((cpu * 1e6) / (rps * SECONDS))
    }

  out(
    `# anti-entropy's cost (${quick ? 'quick' : 'full'}: 3 nodes, ${SESSIONS.toLocaleString('en')} sessions of 1 KB, ` +
      `asynchronous replication, ${ROUNDS} interleaved rounds of ${SECONDS} s), ${new Date().toISOString()}`,
  )
  out()
  out('| cluster | /inc requests/s (median) | CPU µs per request, 3 nodes (median) |')
  out('| --- | --- | --- |')
  for (const s of sides)
    out(`| ${s.label} | ${Math.round(median(s.rps)).toLocaleString('en')} | ${median(s.cpu).toFixed(1)} |`)
  out()
  out('```')
  for (const [on, off] of groups.flatMap(
    ([d, s, o]) =>
      [
        [d, o],
        [s, o],
      ] as Array<[Side, Side]>,
  )) {
    const ratios = on.rps.map((x, i) => x / (off.rps[i] as number))
    const cpu = on.cpu.map((x, i) => x / (off.cpu[i] as number))
    out(
      `${on.label} / off, requests/s per round: ${ratios.map((r) => r.toFixed(3)).join(', ')} (median ${median(ratios).toFixed(3)})`,
    )
    out(
      `${on.label} / off, CPU per request per round: ${cpu.map((r) => r.toFixed(3)).join(', ')} (median ${median(cpu).toFixed(3)})`,
    )
    const counters = await Promise.all(
      on.cluster.nodes.map(async (n) => (await demoStats(n)).stats.antiEntropy as Record<string, number>),
    )
    const sum = (k: string) => counters.reduce((a, c) => a + (c[k] ?? 0), 0)
    out(
      `${on.label}: ${sum('antiEntropyRounds')} rounds on 3 nodes, ${sum('digestsDiffering')} digests differed, ` +
        `${sum('copiesRepaired')} copies and ${sum('endsRepaired')} ends pushed`,
    )
  }
  out('```')
  out()
  out(
    `Command: \`node bench/anti-entropy.ts${quick ? ' --quick' : ''}\`; ${Math.round((Date.now() - started) / 1000)} s.`,
  )
} finally {
  await Promise.all(groups.flat().map((s) => s.cluster.stop()))
  rmSync(dir, { recursive: true, force: true })
}
