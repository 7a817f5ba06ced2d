/**
 * The many-sessions rounds of bench/peers.ts: `sessions` sessions of 1 KB each (an attribute `pad`
 * and a counter), spread over all 3 nodes of each system by the load generator (load-generator.ts:
 * round-robin, one request at a time per virtual user), 90% reads / 10% writes and 50/50, in rounds
 * that alternate between the systems.
 * After each write-heavy round the counter of every session is read from every node: an increment
 * that was acknowledged but is not visible there is a lost update.
 * The ceiling runs in the same rounds: three bare fastify processes answering the same two routes
 * without sessions (bench/bare-fastify.ts), the most any Node.js system of three processes can serve
 * this load on these cores beside the generator; it has nothing to check.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { cpuSeconds } from '../lib/processes.ts'
import { median } from '../lib/wrk.ts'
import { type Jar, runLoad } from './load-generator.ts'

export interface System {
  label: string
  nodes: string[]
  /** Its processes (nodes, and Redis), for the CPU they use per request. */
  pids: number[]
  /** Bare routes without sessions: nothing to fill or check. */
  ceiling?: boolean
}

interface State {
  system: System
  jars: Jar[]
  expected: number[]
  /** Per mix, per round. */
  rps: Record<string, number[]>
  cpuUs: Record<string, number[]>
  generatorCpuUs: Record<string, number[]>
  lost: number[]
  differ: number[]
}

const PAD = 'x'.repeat(1000)
const MIXES = [
  { key: '90/10', writeRatio: 0.1 },
  { key: '50/50', writeRatio: 0.5 },
]

async function fill(system: System, sessions: number, concurrency: number): Promise<State> {
  const state = (jars: Jar[], expected: number[]): State => ({
    system,
    jars,
    expected,
    rps: {},
    cpuUs: {},
    generatorCpuUs: {},
    lost: [],
    differ: [],
  })
  if (system.ceiling)
    return state(
      Array.from({ length: sessions }, () => []),
      Array.from({ length: sessions }, () => 0),
    )
  const r = await runLoad({
    mode: 'fill',
    nodes: system.nodes,
    jars: Array.from({ length: sessions }, () => []),
    concurrency,
    paths: [`/demo/set?k=pad&v=${PAD}`, '/demo/inc'],
  })
  if (r.errors > 0) throw new Error(`${system.label}: ${r.errors} requests failed creating the sessions`)
  return state(r.jars, r.acks)
}

/** Reads every session's counter on every node; returns lost increments and sessions that differ. */
async function check(s: State, concurrency: number): Promise<{ lost: number; differ: number }> {
  await sleep(500) // asynchronous replication settles
  const r = await runLoad({ mode: 'check', nodes: s.system.nodes, jars: s.jars, concurrency })
  if (r.errors > 0) console.log(`# ${s.system.label}, check: ${r.errors} failed reads (counted as lost)`)
  s.jars = r.jars
  let lost = 0
  let differ = 0
  ;(r.values ?? []).forEach((values, i) => {
    const want = s.expected[i] as number
    lost += Math.max(0, ...values.map((v) => want - v))
    if (values.some((v) => v !== values[0])) differ++
  })
  return { lost, differ }
}

/** One load round of `s`: its requests/s and the CPU its processes used per request. */
async function round(s: State, mix: (typeof MIXES)[number], o: { durationMs: number; concurrency: number }) {
  const cpu = () => s.system.pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0)
  const before = cpu()
  const r = await runLoad({
    mode: 'load',
    nodes: s.system.nodes,
    jars: s.jars,
    concurrency: o.concurrency,
    durationMs: o.durationMs,
    writeRatio: mix.writeRatio,
  })
  const used = cpu() - before
  if (r.errors > 0) console.log(`# ${s.system.label}, ${mix.key}: ${r.errors} failed requests`)
  s.jars = r.jars
  r.acks.forEach((a, i) => {
    s.expected[i] = (s.expected[i] ?? 0) + a
  })
  const push = (m: Record<string, number[]>, x: number) => {
    m[mix.key] = [...(m[mix.key] ?? []), x]
  }
  push(s.rps, r.requests / (r.ms / 1000))
  push(s.cpuUs, (used * 1e6) / r.requests)
  push(s.generatorCpuUs, (r.cpuMs * 1000) / r.requests)
}

export async function manySessions(
  systems: System[],
  o: { sessions: number; rounds: number; durationMs: number; concurrency: number },
): Promise<void> {
  const states: State[] = []
  for (const system of systems) states.push(await fill(system, o.sessions, o.concurrency))
  for (let r = 0; r < o.rounds; r++) {
    for (const mix of MIXES) {
      for (const s of states) {
        await round(s, mix, o)
        if (mix.writeRatio >= 0.5 && !s.system.ceiling) {
          const c = await check(s, o.concurrency)
          s.lost.push(c.lost)
          s.differ.push(c.differ)
        }
      }
    }
    const last = (m: Record<string, number[]>) =>
      MIXES.map((x) => Math.round(m[x.key]?.at(-1) ?? 0)).join('/')
    console.log(
      `many sessions, round ${r + 1}/${o.rounds}: ${states.map((s) => last(s.rps)).join(' | ')} requests/s; ${states.map((s) => last(s.cpuUs)).join(' | ')} CPU µs/request; generator ${states.map((s) => last(s.generatorCpuUs)).join(' | ')} CPU µs/request (90/10 and 50/50, per system)`,
    )
  }
  console.log()
  console.log(
    `| many sessions (${o.sessions} of 1 KB, round-robin over 3 nodes, ${o.concurrency} users) | 90/10 requests/s (median) | 50/50 requests/s (median) | 90/10 CPU µs/request | 50/50 CPU µs/request | lost updates (per check) | sessions whose copies differ (per check) |`,
  )
  console.log('| --- | --- | --- | --- | --- | --- | --- |')
  for (const s of states) {
    const m = (x: Record<string, number[]>, k: string) => Math.round(median(x[k] ?? [0]))
    console.log(
      `| ${s.system.label} | ${m(s.rps, '90/10')} | ${m(s.rps, '50/50')} | ${m(s.cpuUs, '90/10')} | ${m(s.cpuUs, '50/50')} | ${s.system.ceiling ? '-' : s.lost.join(', ')} | ${s.system.ceiling ? '-' : s.differ.join(', ')} |`,
    )
  }
  console.log()
  const all = states.flatMap((s) => MIXES.flatMap((x) => s.generatorCpuUs[x.key] ?? []))
  console.log(
    `many sessions, the load generator's CPU per request: median ${median(all).toFixed(1)} µs (max ${Math.max(...all).toFixed(1)})`,
  )
  const ceiling = states.find((s) => s.system.ceiling)
  const [cattery, ...peers] = states.filter((s) => !s.system.ceiling) as [State, ...State[]]
  const ratios = (what: string, a: number[], b: number[], label: string) => {
    const per = a.map((x, i) => x / (b[i] ?? 1))
    console.log(
      `many sessions ${what}, ${label}: ${per.map((x) => x.toFixed(2)).join(', ')} (median ${median(per).toFixed(2)}x)`,
    )
  }
  if (ceiling)
    for (const mix of MIXES) {
      const k = mix.key
      ratios(
        `${k} requests/s`,
        cattery.rps[k] ?? [],
        ceiling.rps[k] ?? [],
        `${cattery.system.label} / ${ceiling.system.label}`,
      )
      // The most any system of three Node.js processes reaches against each peer on these cores.
      for (const p of peers)
        ratios(
          `${k} requests/s`,
          ceiling.rps[k] ?? [],
          p.rps[k] ?? [],
          `${ceiling.system.label} / ${p.system.label}`,
        )
    }
  for (const p of peers) {
    for (const mix of MIXES) {
      const k = mix.key
      const label = `${cattery.system.label} / ${p.system.label}`
      ratios(`${k} requests/s`, cattery.rps[k] ?? [], p.rps[k] ?? [], label)
      ratios(
        `${k} CPU per request`,
        p.cpuUs[k] ?? [],
        cattery.cpuUs[k] ?? [],
        `${p.system.label} / ${cattery.system.label}`,
      )
    }
  }
}
