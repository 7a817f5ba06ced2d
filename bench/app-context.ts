/**
 * An application's context against the same routes in one fastify instance (issue 14): `/demo/inc`
 * on a node that loaded the demo application from its app base (its own fastify instance behind the
 * host's context routing) and on a library-mode process that registered the demo's plugin directly
 * (bench/library-demo.ts); both with replication off, so only the serving path differs. wrk -t1 -c8,
 * interleaved rounds, medians.
 *   node bench/app-context.ts [--quick]
 */
import { spawn } from 'node:child_process'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePorts } from '../scripts/lib/node-process.ts'
import { startCattery } from './lib/cattery.ts'
import { ensureWrk, median, wrk } from './lib/wrk.ts'

const quick = process.argv.includes('--quick')
const ROUNDS = quick ? 3 : 7
const DURATION = quick ? '3s' : '5s'

async function cookie(base: string): Promise<string> {
  const res = await fetch(`${base}/demo/inc`)
  return res.headers.getSetCookie()[0]?.split(';')[0] ?? ''
}

ensureWrk()
const node = await startCattery(1, ['--manager', 'standard'], 'app')
const [httpPort, receiverPort] = (await freePorts(2)) as [number, number]
const lib = spawn(
  process.execPath,
  [path.join(import.meta.dirname, 'library-demo.ts'), String(httpPort), String(receiverPort)],
  {
    stdio: ['ignore', 'ignore', 'inherit'],
  },
)
for (;;) {
  const ok = await fetch(`http://127.0.0.1:${httpPort}/demo/get`)
    .then((r) => r.ok)
    .catch(() => false)
  if (ok) break
  await sleep(50)
}
const targets = [
  { label: 'demo loaded from the app base (a context)', base: `http://127.0.0.1:${node.nodes[0]?.http}` },
  { label: 'demo registered in one fastify instance (library mode)', base: `http://127.0.0.1:${httpPort}` },
].map((t) => ({ ...t, runs: [] as number[], cookie: '' }))
try {
  for (const t of targets) t.cookie = await cookie(t.base)
  for (const t of targets) wrk(`${t.base}/demo/inc`, { cookie: t.cookie, duration: '2s' })
  for (let r = 0; r < ROUNDS; r++) {
    for (const t of targets)
      t.runs.push(wrk(`${t.base}/demo/inc`, { cookie: t.cookie, duration: DURATION }).rps)
    console.log(
      `round ${r + 1}/${ROUNDS}: ${targets.map((t) => Math.round(t.runs.at(-1) ?? 0)).join(' / ')} requests/s`,
    )
  }
  const [app, libT] = targets as [(typeof targets)[0], (typeof targets)[0]]
  const per = app.runs.map((x, i) => x / (libT.runs[i] ?? 1))
  console.log(`# app context vs library mode, Node ${process.version}, ${new Date().toISOString()}`)
  for (const t of targets) console.log(`| ${t.label} | ${Math.round(median(t.runs))} requests/s (median) |`)
  console.log(
    `per round: ${per.map((x) => `${Math.round(100 * x)}%`).join(', ')} (median ${Math.round(100 * median(per))}%; goal: equal within noise)`,
  )
} finally {
  lib.kill()
  await node.stop()
}
