/**
 * Read-your-writes benchmark (issue 13), on 3-node clusters with the default asynchronous replication:
 *  1. a non-sticky load — `SESSIONS` clients, each `REQUESTS` sequential GET /demo/inc following its
 *     cookies, request i to node i mod 3 — against the same load sent to node 1 only (sticky), in
 *     alternating rounds: requests/s, and increments lost (acknowledged counts not above the last);
 *  2. the sticky /inc path with read-your-writes (the client sends the version cookie; every answer
 *     sets a new one) against a cluster with `--read-your-writes false`, by wrk, in alternating
 *     rounds; medians and the median of the per-round ratios (goal ≥ 95%).
 *   node bench/read-your-writes.ts [--quick]
 */
import { execFileSync } from 'node:child_process'
import { type CatteryNode, startCattery } from './lib/cattery.ts'
import { cpuSeconds } from './lib/processes.ts'
import { ensureWrk, median } from './lib/wrk.ts'

const quick = process.argv.includes('--quick')
const ROUNDS = quick ? 3 : 5
const DURATION = quick ? '3s' : '5s'
const SESSIONS = 100
const REQUESTS = quick ? 30 : 60

ensureWrk()

const pct = (x: number) => `${Math.round(100 * x)}%`

/** The counter load: requests/s and increments lost (an answer not above the one before). */
async function counterLoad(nodes: CatteryNode[]): Promise<{ rps: number; lost: number }> {
  let lost = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: SESSIONS }, async () => {
      const jar = new Map<string, string>()
      let last = 0
      for (let i = 0; i < REQUESTS; i++) {
        const n = nodes[i % nodes.length] as CatteryNode
        const res = await fetch(`http://127.0.0.1:${n.http}/demo/inc`, {
          headers: jar.size ? { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } : {},
        })
        for (const c of res.headers.getSetCookie()) {
          const m = /^([^=]+)=([^;]*)/.exec(c)
          if (m) jar.set(m[1] as string, m[2] as string)
        }
        const { count } = (await res.json()) as { count: number }
        if (count <= last) lost++
        last = count
      }
    }),
  )
  return { rps: (SESSIONS * REQUESTS) / ((performance.now() - t0) / 1000), lost }
}

/** wrk on node 1 of `nodes`: requests/s, and the CPU that node spent per request (µs). */
function wrk(nodes: CatteryNode[], cookie: string, duration = DURATION): { rps: number; cpuUs: number } {
  const n = nodes[0] as CatteryNode
  const pid = n.pid
  const before = cpuSeconds(pid)
  const out = execFileSync(
    'wrk',
    ['-t1', '-c8', `-d${duration}`, '-H', `Cookie: ${cookie}`, `http://127.0.0.1:${n.http}/demo/inc`],
    { encoding: 'utf8' },
  )
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1])
  return { rps, cpuUs: ((cpuSeconds(pid) - before) * 1e6) / (rps * Number.parseFloat(duration)) }
}

/** Both cookies of a new session on `http` (the version cookie only when the node sets one). */
async function cookies(http: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${http}/demo/inc`)
  return res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ')
}

console.log(
  `# read-your-writes benchmark (${quick ? 'quick' : 'full'}), Node ${process.version}, ${new Date().toISOString()}`,
)
const onCluster = await startCattery(3, [], 'b')
const offCluster = await startCattery(3, ['--read-your-writes', 'false'], 'c')
const on = onCluster.nodes
const off = offCluster.nodes

// 1. Round-robin against sticky, the same load on the same cluster (read-your-writes on).
await counterLoad(on) // warm-up, not counted
const rr: Array<{ rps: number; lost: number }> = []
const sticky: Array<{ rps: number; lost: number }> = []
for (let round = 0; round < ROUNDS; round++) {
  rr.push(await counterLoad(on))
  sticky.push(await counterLoad(on.slice(0, 1)))
  console.log(
    `round ${round + 1}/${ROUNDS}: round-robin ${Math.round(rr.at(-1)?.rps ?? 0)} / sticky ${Math.round(sticky.at(-1)?.rps ?? 0)} requests/s`,
  )
}
const status = (await (await fetch(`http://127.0.0.1:${on[1]?.admin}/status`)).json()) as {
  contexts: Array<{ stats: { readYourWrites: { caughtUp: number; staleReads: number } } }>
}

// 2. The sticky /inc path, read-your-writes on (version cookie sent and set) against off.
const onCookie = await cookies(on[0]?.http as number)
const offCookie = await cookies(off[0]?.http as number)
wrk(on, onCookie, '2s')
wrk(off, offCookie, '2s')
const withRyw: number[] = []
const without: number[] = []
const cpuWith: number[] = []
const cpuWithout: number[] = []
for (let round = 0; round < ROUNDS; round++) {
  const a = wrk(on, onCookie)
  const b = wrk(off, offCookie)
  withRyw.push(a.rps)
  without.push(b.rps)
  cpuWith.push(a.cpuUs)
  cpuWithout.push(b.cpuUs)
  console.log(
    `round ${round + 1}/${ROUNDS}: sticky /inc ${Math.round(a.rps)} with (${a.cpuUs.toFixed(1)} µs) / ${Math.round(b.rps)} without (${b.cpuUs.toFixed(1)} µs)`,
  )
}
const ratios = withRyw.map((r, i) => r / (without[i] ?? 1))
const rrRatios = rr.map((r, i) => r.rps / (sticky[i]?.rps ?? 1))

console.log()
console.log(
  '| scenario | requests/s (median) | increments lost | ratio (median of rounds) | CPU per request, serving node |',
)
console.log('| --- | --- | --- | --- | --- |')
console.log(
  `| ${SESSIONS} clients × ${REQUESTS} sequential /inc, round-robin over 3 nodes | ${Math.round(median(rr.map((r) => r.rps)))} | ${rr.reduce((n, r) => n + r.lost, 0)} of ${ROUNDS * SESSIONS * REQUESTS} | ${pct(median(rrRatios))} of sticky | - |`,
)
console.log(
  `| the same load, sticky to node 1 | ${Math.round(median(sticky.map((r) => r.rps)))} | ${sticky.reduce((n, r) => n + r.lost, 0)} | 100% | - |`,
)
console.log(
  `| sticky /inc (wrk -c8), read-your-writes on | ${Math.round(median(withRyw))} | - | ${pct(median(ratios))} of off | ${median(cpuWith).toFixed(1)} µs |`,
)
console.log(
  `| sticky /inc (wrk -c8), --read-your-writes false | ${Math.round(median(without))} | - | 100% | ${median(cpuWithout).toFixed(1)} µs |`,
)
console.log()
console.log(`sticky /inc with vs without, per round: ${ratios.map(pct).join(', ')} (goal ≥ 95%)`)
console.log(`round-robin vs sticky, per round: ${rrRatios.map(pct).join(', ')}`)
const s = status.contexts[0]?.stats.readYourWrites
console.log(
  `node 2 after the round-robin rounds: ${s?.caughtUp} requests waited for their write, ${s?.staleReads} stale reads`,
)
await Promise.all([onCluster.stop(), offCluster.stop()])
process.exit(0)
