/**
 * The many-sessions rounds of bench/peers.ts: `sessions` sessions of 1 KB each (an attribute `pad`
 * and a counter), spread over all 3 nodes of each system by load.ts (round-robin, one request at a
 * time per session), 90% reads / 10% writes and 50/50, in rounds that alternate between the systems.
 * After each write-heavy round the counter of every session is read from every node: an increment
 * that was acknowledged but is not visible there is a lost update.
 */
import { fork } from 'node:child_process'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { median } from '../lib/wrk.ts'
import { type LoadJob, type LoadResult, request } from './load.ts'

export interface System {
  label: string
  nodes: string[]
}

interface State {
  system: System
  jars: Array<Record<string, string>>
  expected: number[]
  rps: Record<string, number[]>
  lost: number[]
  differ: number[]
}

const PAD = 'x'.repeat(1000)
const MIXES = [
  { key: '90/10', writeRatio: 0.1 },
  { key: '50/50', writeRatio: 0.5 },
]

/** Runs `work` over `items` with at most `width` at once. */
async function pool<T>(
  items: T[],
  width: number,
  work: (item: T, i: number) => Promise<void>,
): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let i = next++; i < items.length; i = next++) await work(items[i] as T, i)
    }),
  )
}

async function fill(system: System, sessions: number): Promise<State> {
  const jars: Array<Record<string, string>> = Array.from({ length: sessions }, () => ({}))
  await pool(jars, 16, async (jar, i) => {
    const node = system.nodes[i % system.nodes.length] as string
    const set = await request(node, `/demo/set?k=pad&v=${PAD}`, jar)
    const inc = await request(node, '/demo/inc', jar)
    if (set.status !== 200 || inc.status !== 200)
      throw new Error(`${system.label}: cannot create session ${i}`)
  })
  return { system, jars, expected: jars.map(() => 1), rps: {}, lost: [], differ: [] }
}

function load(job: LoadJob): Promise<LoadResult> {
  const child = fork(path.join(import.meta.dirname, 'load.ts'), {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  return new Promise((resolve, reject) => {
    child.once('message', (r) => resolve(r as LoadResult))
    child.once('exit', (code) => reject(new Error(`the load generator exited (${code})`)))
    child.send(job)
  })
}

/** Reads every session's counter on every node; returns lost increments and sessions that differ. */
async function check(s: State): Promise<{ lost: number; differ: number }> {
  await sleep(500) // asynchronous replication settles
  let lost = 0
  let differ = 0
  await pool(s.jars, 16, async (jar, i) => {
    const values: number[] = []
    for (const node of s.system.nodes) {
      const r = await request(node, '/demo/get?k=count', jar)
      values.push(Number((JSON.parse(r.body) as { v: unknown }).v) || 0)
    }
    const want = s.expected[i] as number
    lost += Math.max(0, ...values.map((v) => want - v))
    if (values.some((v) => v !== values[0])) differ++
  })
  return { lost, differ }
}

export async function manySessions(
  systems: System[],
  o: { sessions: number; rounds: number; durationMs: number; concurrency: number },
): Promise<void> {
  const states: State[] = []
  for (const system of systems) states.push(await fill(system, o.sessions))
  for (let round = 0; round < o.rounds; round++) {
    for (const mix of MIXES) {
      for (const s of states) {
        const r = await load({
          nodes: s.system.nodes,
          jars: s.jars,
          concurrency: o.concurrency,
          durationMs: o.durationMs,
          writeRatio: mix.writeRatio,
        })
        if (r.errors > 0) console.log(`# ${s.system.label}, ${mix.key}: ${r.errors} failed requests`)
        s.jars = r.jars
        r.acks.forEach((a, i) => {
          s.expected[i] = (s.expected[i] ?? 0) + a
        })
        const list = s.rps[mix.key] ?? []
        list.push(r.requests / (r.ms / 1000))
        s.rps[mix.key] = list
        if (mix.writeRatio >= 0.5) {
          const c = await check(s)
          s.lost.push(c.lost)
          s.differ.push(c.differ)
        }
      }
    }
    console.log(
      `many sessions, round ${round + 1}/${o.rounds}: ${states
        .map((s) => MIXES.map((m) => Math.round(s.rps[m.key]?.at(-1) ?? 0)).join('/'))
        .join(' | ')} requests/s (90/10 and 50/50, per system)`,
    )
  }
  console.log()
  console.log(
    `| many sessions (${o.sessions} of 1 KB, round-robin over 3 nodes, ${o.concurrency} users) | 90/10 requests/s (median) | 50/50 requests/s (median) | lost updates (per check) | sessions whose copies differ (per check) |`,
  )
  console.log('| --- | --- | --- | --- | --- |')
  for (const s of states) {
    const m = (k: string) => Math.round(median(s.rps[k] ?? [0]))
    console.log(
      `| ${s.system.label} | ${m('90/10')} | ${m('50/50')} | ${s.lost.join(', ')} | ${s.differ.join(', ')} |`,
    )
  }
  console.log()
  const [cattery, ...peers] = states as [State, ...State[]]
  for (const p of peers) {
    for (const mix of MIXES) {
      const per = (cattery.rps[mix.key] ?? []).map((x, i) => x / (p.rps[mix.key]?.[i] ?? 1))
      console.log(
        `many sessions ${mix.key}, ${cattery.system.label} / ${p.system.label}: ${per.map((x) => x.toFixed(2)).join(', ')} (median ${median(per).toFixed(2)}x)`,
      )
    }
  }
}
