/**
 * State transfer, before and after a change: one donor (the working tree) holds N sessions of 1 KB;
 * joiners of the working tree and of a git revision (exported with `git archive`, sharing this tree's
 * node_modules) start in alternating rounds, each round's order reversed from the last; it prints each
 * joiner's time from its process start to /readyz (the sessions held then), medians and the per-round
 * ratio new/old. The donor answers each joiner in the form it asks for (an older joiner gets what it
 * always got), so the figure is what a new pod of each version would see.
 *   node bench/join-before-after.ts <git-rev> [sessions=100000] [rounds=5] [--new-node-options=FLAGS]
 * --new-node-options: Node.js flags for the new joiners only (space-separated), e.g. a V8 setting the
 * image passes (`HEAD --new-node-options=--max-semi-space-size=32` measures the flag alone).
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePorts, loopbackNodeArgs, NodeProcess } from '../scripts/lib/node-process.ts'
import { ensureWrk } from './lib/wrk.ts'

const ROOT = path.resolve(import.meta.dirname, '..')
const flag = process.argv.find((a) => a.startsWith('--new-node-options='))
const newNodeOptions = flag ? flag.slice('--new-node-options='.length).split(' ').filter(Boolean) : []
const [rev, sessionsArg = '100000', roundsArg = '5'] = process.argv.slice(2).filter((a) => a !== flag)
if (!rev) {
  console.error('usage: node bench/join-before-after.ts <git-rev> [sessions] [rounds]')
  process.exit(2)
}
const SESSIONS = Number(sessionsArg)
const ROUNDS = Number(roundsArg)
ensureWrk()

const oldRoot = mkdtempSync(path.join(os.tmpdir(), 'cattery-before-'))
execFileSync('sh', ['-c', `git -C "${ROOT}" archive "${rev}" | tar -x -C "${oldRoot}"`])
symlinkSync(path.join(ROOT, 'node_modules'), path.join(oldRoot, 'node_modules'))

const receivers = await freePorts(1 + 2 * ROUNDS)
const node = (name: string, root: string, i: number, http: number, admin: number, flags: string[] = []) =>
  new NodeProcess(
    name,
    [
      ...loopbackNodeArgs({
        receiver: receivers[i] as number,
        members: receivers,
        http,
        admin,
        appsDir: path.join(root, 'examples/apps'),
      }),
      '--log-level',
      'warn',
    ],
    { command: [process.execPath, ...flags, path.join(root, 'node/main.ts')] },
  )
const ready = async (admin: number) => {
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${admin}/readyz`)
      .then((r) => r.status === 200)
      .catch(() => false)
    if (ok) return
    await sleep(5)
  }
}
const held = async (admin: number) =>
  (
    (await (await fetch(`http://127.0.0.1:${admin}/status`)).json()) as {
      contexts: Array<{ sessions: number }>
    }
  ).contexts[0]?.sessions ?? 0

const [dh, da] = (await freePorts(2)) as [number, number]
const donor = node('donor', ROOT, 0, dh, da)
await ready(da)
const script = path.join(os.tmpdir(), `cattery-join-${process.pid}.lua`)
writeFileSync(script, `wrk.path = "/demo/set?k=data&v=${'x'.repeat(1000)}"\n`)
while ((await held(da)) < SESSIONS)
  execFileSync('wrk', ['-t1', '-c16', '-d2s', '-s', script, `http://127.0.0.1:${dh}/`])
const total = await held(da)

const times: Record<'old' | 'new', number[]> = { old: [], new: [] }
let slot = 1
async function join(side: 'old' | 'new'): Promise<string> {
  const [http, admin] = (await freePorts(2)) as [number, number]
  const t0 = performance.now()
  const p =
    side === 'new'
      ? node(`new${slot}`, ROOT, slot++, http, admin, newNodeOptions)
      : node(`old${slot}`, oldRoot, slot++, http, admin)
  await ready(admin)
  const ms = performance.now() - t0
  const n = await held(admin)
  await p.stop('SIGKILL')
  await sleep(500) // the donor notices the departure before the next joiner
  times[side].push(ms)
  return `${side} ${Math.round(ms)} ms (${n})`
}
console.log(
  `# join before/after: donor holds ${total} sessions of 1 KB; old = ${rev}, new = the working tree${newNodeOptions.length ? ` with ${newNodeOptions.join(' ')}` : ''}, Node ${process.version}`,
)
for (let r = 0; r < ROUNDS; r++) {
  const order: Array<'old' | 'new'> = r % 2 === 0 ? ['old', 'new'] : ['new', 'old']
  const out = [await join(order[0] as 'old'), await join(order[1] as 'old')]
  console.log(`round ${r + 1}/${ROUNDS}: ${out.join(', ')}`)
}
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)] as number
const ratios = times.new.map((t, i) => t / (times.old[i] as number))
console.log(
  `process start → /readyz, median: old ${Math.round(median(times.old))} ms, new ${Math.round(median(times.new))} ms; new/old per round ${ratios.map((x) => x.toFixed(2)).join(', ')} (median ${median(ratios).toFixed(2)})`,
)
await donor.stop('SIGKILL')
rmSync(oldRoot, { recursive: true, force: true })
rmSync(script, { force: true })
