/**
 * The many-sessions load generator's ceiling (bench/peers/load/): against one bare fastify process
 * (bench/bare-fastify.ts), 16 virtual users, 1,000 sessions, every request `/demo/inc` to the same
 * port, beside wrk -t1 -c16 on the same route; alternating rounds, requests/s and the CPU each
 * load generator used per request (the generator's from its own report, wrk's from the children
 * time of this process).
 *   node bench/peers/generator-ceiling.ts [--quick]
 * Results: bench/RESULTS.md ("Many sessions with the Go load generator").
 */
import { execFileSync, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePorts } from '../../scripts/lib/node-process.ts'
import { stopChild } from '../lib/processes.ts'
import { ensureWrk, median } from '../lib/wrk.ts'
import { ensureLoadGenerator, runLoad } from './load-generator.ts'

const quick = process.argv.includes('--quick')
const ROUNDS = quick ? 3 : 5
const SECONDS = quick ? 3 : 5
const USERS = 16

/** CPU seconds of this process's waited-for children (Linux /proc, USER_HZ 100). */
function childrenCpu(): number {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(f[13]) + Number(f[14])) / 100
}

ensureWrk()
ensureLoadGenerator()
const [port] = (await freePorts(1)) as [number]
const bare = spawn(process.execPath, [path.join(import.meta.dirname, '../bare-fastify.ts'), String(port)], {
  stdio: 'ignore',
})
const base = `http://127.0.0.1:${port}`
while (
  !(await fetch(`${base}/demo/inc`).then(
    (r) => r.ok,
    () => false,
  ))
)
  await sleep(50)

const gen = async (seconds: number) => {
  const r = await runLoad({
    mode: 'load',
    nodes: [base, base, base],
    jars: Array.from({ length: 1000 }, () => []),
    concurrency: USERS,
    durationMs: seconds * 1000,
    writeRatio: 1,
  })
  if (r.errors > 0) throw new Error(`the generator saw ${r.errors} failed requests`)
  return { rps: r.requests / (r.ms / 1000), cpuUs: (r.cpuMs * 1000) / r.requests }
}
const wrk = (seconds: number) => {
  const before = childrenCpu()
  const out = execFileSync('wrk', ['-t1', `-c${USERS}`, `-d${seconds}s`, `${base}/demo/inc`], {
    encoding: 'utf8',
  })
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1])
  return { rps, cpuUs: ((childrenCpu() - before) * 1e6) / (rps * seconds) }
}

try {
  await gen(2) // warm-up of the fastify process
  wrk(2)
  const runs = {
    gen: [] as Array<{ rps: number; cpuUs: number }>,
    wrk: [] as Array<{ rps: number; cpuUs: number }>,
  }
  for (let round = 0; round < ROUNDS; round++) {
    runs.gen.push(await gen(SECONDS))
    runs.wrk.push(wrk(SECONDS))
    const g = runs.gen.at(-1)
    const w = runs.wrk.at(-1)
    console.log(
      `round ${round + 1}/${ROUNDS}: generator ${Math.round(g?.rps ?? 0)} requests/s, ${g?.cpuUs.toFixed(1)} CPU µs/request; wrk ${Math.round(w?.rps ?? 0)} requests/s, ${w?.cpuUs.toFixed(1)} CPU µs/request`,
    )
  }
  console.log()
  console.log(
    `| load generator, one bare fastify, ${USERS} connections | requests/s (median) | CPU µs/request (median) |`,
  )
  console.log('| --- | --- | --- |')
  for (const [label, rs] of [
    ['bench/peers/load (Go)', runs.gen],
    ['wrk -t1', runs.wrk],
  ] as const) {
    console.log(
      `| ${label} | ${Math.round(median(rs.map((r) => r.rps)))} | ${median(rs.map((r) => r.cpuUs)).toFixed(1)} |`,
    )
  }
} finally {
  await stopChild(bare)
}
