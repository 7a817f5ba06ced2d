/**
 * BackupManager against DeltaManager (issue 15):
 *  1. memory: a 5-member cluster of each, `SESSIONS` sessions of 1 KB created round robin over the
 *     members; each member's live JS heap (a heap snapshot, bench/lib/live-heap.ts) minus its heap
 *     before, per session, averaged over the members. "Before" is taken after
 *     WARMUP sessions were created and replicated: the code V8 compiles for the first requests
 *     (several MB) is not memory per session. Goal: the BackupManager's ≤
 *     (1 + k) / N of the DeltaManager's plus 100 bytes.
 *  2. replicated /inc throughput (wrk, one session, 8 connections to the session's creator) with
 *     3, 5 and 8 members, each manager with its default send options (DeltaManager 8 — asynchronous;
 *     BackupManager mapSendOptions 6 — synchronous ACK) and the BackupManager asynchronous (8) too,
 *     in interleaved rounds over all nine clusters, all up at once; medians. Goal: the BackupManager's does not fall as members are added.
 *     Beside it, the CPU per request of the serving member and of the whole cluster (/proc): on a
 *     machine with fewer cores than members the requests/s also measure the members' sharing of them.
 *   node bench/backup-manager.ts [--quick] [--memory-only | --throughput-only] [--rounds N]
 *     [--only <text>] [--sizes 3,8]
 * --only keeps the throughput variants whose name contains the text (e.g. `async`); --sizes the
 * cluster sizes (the first and the last are compared): fewer processes up, for a focused rerun.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { type CatteryCluster, type CatteryNode, createSessions, startCattery } from './lib/cattery.ts'
import { liveHeapBytes, SNAPSHOT_SIGNAL_OPTION } from './lib/live-heap.ts'
import { cpuSeconds } from './lib/processes.ts'
import { ensureWrk, median, wrk } from './lib/wrk.ts'

const quick = process.argv.includes('--quick')
const memoryOnly = process.argv.includes('--memory-only')
const throughputOnly = process.argv.includes('--throughput-only')
const SESSIONS = quick ? 20_000 : 100_000
const WARMUP = 2_000
const option = (name: string): string | undefined => {
  const i = process.argv.indexOf(name)
  return i < 0 ? undefined : process.argv[i + 1]
}
const ROUNDS = Number(option('--rounds') ?? (quick ? 3 : 5))
const DURATION = quick ? '3s' : '5s'
const VALUE = 'x'.repeat(1024)

// The nodes inherit it: they write a heap snapshot when signalled, into the benchmark's working
// directory (a temporary one while memory is measured).
process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} ${SNAPSHOT_SIGNAL_OPTION}`.trim()
ensureWrk()

/**
 * A member's live JS heap, from a heap snapshot (bench/lib/live-heap.ts). `heapUsed` after a GC was
 * used before: on the same objects it moved by up to ~575 bytes per copy from run to run.
 */
const heap = (n: CatteryNode): Promise<number> =>
  liveHeapBytes(n.pid, process.cwd(), () => fetch(`http://127.0.0.1:${n.admin}/livez`))

/**
 * A member's memory outside the JS heap (`external` of process.memoryUsage(), through /status:
 * buffers and native objects), read right after a heap snapshot, whose GC frees the buffers no
 * object holds any more.
 */
const offHeap = async (n: CatteryNode): Promise<number> => {
  const s = (await (await fetch(`http://127.0.0.1:${n.admin}/status`)).json()) as {
    memory: { external: number }
  }
  return s.memory.external
}

/** Sessions held on every member, summed, once replication settled (proxies gone). */
async function settled(nodes: CatteryNode[], expected: number): Promise<void> {
  const deadline = Date.now() + 120_000
  for (;;) {
    const held = await Promise.all(
      nodes.map(async (n) => {
        const s = (await (await fetch(`http://127.0.0.1:${n.admin}/status`)).json()) as {
          contexts: Array<{ path: string; sessions: number }>
        }
        return s.contexts.find((c) => c.path === '/demo')?.sessions ?? 0
      }),
    )
    if (held.reduce((a, b) => a + b, 0) === expected) return
    if (Date.now() > deadline) throw new Error(`copies held: ${held.join(', ')}; expected ${expected} in all`)
    await sleep(500)
  }
}

async function memory(
  kind: 'delta' | 'backup',
  size: number,
): Promise<{ perSession: number; offHeapPerSession: number; copies: number }> {
  const home = process.cwd()
  process.chdir(mkdtempSync(path.join(os.tmpdir(), 'cattery-heap-')))
  const c = await startCattery(size, ['--manager', kind], kind[0])
  try {
    const copiesOf = (sessions: number) => (kind === 'delta' ? sessions * size : sessions * 2)
    await createSessions(c.nodes, WARMUP, VALUE)
    await settled(c.nodes, copiesOf(WARMUP))
    const before = await Promise.all(c.nodes.map(heap))
    const offBefore = await Promise.all(c.nodes.map(offHeap))
    await createSessions(c.nodes, SESSIONS, VALUE)
    const copies = copiesOf(WARMUP + SESSIONS)
    await settled(c.nodes, copies)
    const after = await Promise.all(c.nodes.map(heap))
    const offAfter = await Promise.all(c.nodes.map(offHeap))
    const grown = after.reduce((a, b, i) => a + b - (before[i] as number), 0)
    const offGrown = offAfter.reduce((a, b, i) => a + b - (offBefore[i] as number), 0)
    process.stderr.write(
      `${kind}: heap grown per member (MB): ${after.map((a, i) => ((a - (before[i] as number)) / 1e6).toFixed(1)).join(', ')}; outside the heap: ${offAfter.map((a, i) => ((a - (offBefore[i] as number)) / 1e6).toFixed(1)).join(', ')}\n`,
    )
    // Bytes per session per member: what the cluster holds for one session, divided by its members.
    return { perSession: grown / SESSIONS / size, offHeapPerSession: offGrown / SESSIONS / size, copies }
  } finally {
    await c.stop()
    rmSync(process.cwd(), { recursive: true, force: true })
    process.chdir(home)
  }
}

async function cookieOn(n: CatteryNode): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${n.http}/demo/inc`)
  await r.arrayBuffer()
  const m = /JSESSIONID=([^;]+)/.exec(r.headers.get('set-cookie') ?? '')
  if (!m) throw new Error('no session cookie')
  return `JSESSIONID=${m[1]}`
}

const out = (s = '') => process.stdout.write(`${s}\n`)

out(
  `# BackupManager vs DeltaManager (${quick ? 'quick' : 'full'}: ${SESSIONS.toLocaleString('en')} sessions of 1 KB)`,
)
out()
if (!throughputOnly) {
  const delta = await memory('delta', 5)
  const backup = await memory('backup', 5)
  const goal = (2 / 5) * delta.perSession + 100
  out('| 5 members, live JS heap (heap snapshots) per session per member | bytes |')
  out('| --- | --- |')
  out(`| DeltaManager (5 copies of each session) | ${Math.round(delta.perSession)} |`)
  out(`| BackupManager, k = 1 (2 copies) | ${Math.round(backup.perSession)} |`)
  out(
    `| goal: ≤ 2/5 of the DeltaManager's + 100 | ${Math.round(goal)} (${backup.perSession <= goal ? 'met' : 'not met'}) |`,
  )
  out()
  // Native memory (buffers) too, so that the goal is not met by moving bytes off the JS heap.
  const total = (m: typeof delta) => m.perSession + m.offHeapPerSession
  const totalGoal = (2 / 5) * total(delta) + 100
  out('| 5 members, per session per member, bytes | live JS heap | outside the heap (`external`) | both |')
  out('| --- | --- | --- | --- |')
  for (const [label, m] of [
    ['DeltaManager', delta],
    ['BackupManager, k = 1', backup],
  ] as const)
    out(
      `| ${label} | ${Math.round(m.perSession)} | ${Math.round(m.offHeapPerSession)} | ${Math.round(total(m))} |`,
    )
  out(
    `| goal on both: ≤ 2/5 of the DeltaManager's + 100 | | | ${Math.round(totalGoal)} (${total(backup) <= totalGoal ? 'met' : 'not met'}) |`,
  )
  out()
}
if (memoryOnly) process.exit(0)

const only = option('--only')
const variants = [
  { name: 'DeltaManager, async (8)', args: ['--manager', 'delta'] },
  { name: 'BackupManager, mapSendOptions 6 (sync ACK)', args: ['--manager', 'backup'] },
  {
    name: 'BackupManager, mapSendOptions 8 (async)',
    args: ['--manager', 'backup', '--map-send-options', '8'],
  },
].filter((v) => only === undefined || v.name.includes(only))
const SIZES = (option('--sizes') ?? '3,5,8').split(',').map(Number)
const sizeColumns = SIZES.map((n) => `${n} members`).join(' | ')
const dashes = SIZES.map(() => '---').join(' | ')
out(
  `| /inc requests/s (wrk, 8 connections, one session, ${ROUNDS} interleaved rounds of ${DURATION}, median) | ${sizeColumns} |`,
)
out(`| --- | ${dashes} |`)
// Every cluster of every size is up for every round (48 processes), so each round runs beside the
// same idle members: when each size was measured with only its own clusters up, the larger sizes
// also paid for more idle processes on the machine's cores than the smaller ones.
const clusters: Array<{ name: string; size: number; c: CatteryCluster; cookie: string }> = []
const rps = new Map<string, number[]>()
const serving = new Map<string, number[]>()
const whole = new Map<string, number[]>()
const cell = (v: { name: string }, size: number) => `${v.name}@${size}`
const seconds = Number.parseFloat(DURATION)
try {
  for (const size of SIZES)
    for (const v of variants) {
      const c = await startCattery(size, v.args, `${v.args[1]?.[0]}${size}-`)
      clusters.push({ name: cell(v, size), size, c, cookie: await cookieOn(c.nodes[0] as CatteryNode) })
    }
  for (let r = 0; r < ROUNDS; r++)
    for (const x of clusters) {
      const before = x.c.nodes.map((n) => cpuSeconds(n.pid))
      const res = wrk(`http://127.0.0.1:${(x.c.nodes[0] as CatteryNode).http}/demo/inc`, {
        cookie: x.cookie,
        duration: DURATION,
      })
      const used = x.c.nodes.map((n, i) => cpuSeconds(n.pid) - (before[i] as number))
      const requests = res.rps * seconds
      const push = (m: Map<string, number[]>, value: number) =>
        m.set(x.name, [...(m.get(x.name) ?? []), value])
      push(rps, res.rps)
      // CPU per request of the serving member and of the whole cluster (every member, /proc): what
      // a write costs the cluster, which core sharing does not hide.
      push(serving, ((used[0] as number) / requests) * 1e6)
      push(whole, (used.reduce((a, b) => a + b, 0) / requests) * 1e6)
    }
} finally {
  for (const x of clusters) await x.c.stop()
}
const table = new Map<string, string[]>(
  variants.map((v) => [
    v.name,
    SIZES.map((size) => String(Math.round(median(rps.get(cell(v, size)) ?? [0])))),
  ]),
)
const us = (m: Map<string, number[]>, key: string) => median(m.get(key) ?? [0]).toFixed(1)
const cpuTable = new Map<string, string[]>(
  variants.map((v) => [
    v.name,
    SIZES.map((size) => `${us(serving, cell(v, size))} / ${us(whole, cell(v, size))}`),
  ]),
)
for (const [name, cells] of table) out(`| ${name} | ${cells.join(' | ')} |`)
out()
out(`| CPU µs per /inc request: serving member / whole cluster (median) | ${sizeColumns} |`)
out(`| --- | ${dashes} |`)
for (const [name, cells] of cpuTable) out(`| ${name} | ${cells.join(' | ')} |`)
out()
out('```')
for (const v of variants)
  for (const size of SIZES)
    out(
      `${cell(v, size)} requests/s per round: ${(rps.get(cell(v, size)) ?? []).map(Math.round).join(' / ')}`,
    )
const [smallest, largest] = [SIZES[0] as number, SIZES.at(-1) as number]
for (const v of variants.filter((x) => x.name.startsWith('BackupManager'))) {
  const ratios = (rps.get(cell(v, largest)) ?? []).map(
    (x, i) => x / ((rps.get(cell(v, smallest)) ?? [])[i] ?? 1),
  )
  out(
    `${v.name}: ${largest} members / ${smallest} members, per round: ${ratios.map((r) => r.toFixed(2)).join(', ')} (median ${median(ratios).toFixed(2)}x; goal ≥ 1.00x within the rounds' spread)`,
  )
}
out('```')
