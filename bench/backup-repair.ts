/**
 * BackupManager fail-over and repair after kill -9 (issue 15: "each session is back to 1+k copies
 * within a bounded time after the loss (measure it)"): a 5-member BackupManager cluster (k = 1) holds
 * `SESSIONS` sessions of 1 KB created round robin; one member is killed with SIGKILL, then the
 * survivors' /status is polled every 20 ms. Per round, on a new cluster:
 *   - detected: every survivor's view has lost the member (the failure detection, the reference:
 *     repair cannot start before it);
 *   - repaired: the survivors hold every session as primary once and as backup k times again.
 * Medians over the rounds, and the copies re-made per second of repair (after detection).
 *   node bench/backup-repair.ts [--quick]
 * Results: bench/RESULTS.md ("BackupManager fail-over and repair").
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { type CatteryNode, createSessions, startCattery } from './lib/cattery.ts'
import { median } from './lib/wrk.ts'

const quick = process.argv.includes('--quick')
const SESSIONS = quick ? 10_000 : 100_000
const ROUNDS = quick ? 3 : 5
const MEMBERS = 5
const BACKUPS = 1
const VALUE = 'x'.repeat(1024)

interface DemoStats {
  members: unknown[]
  contexts: Array<{ path: string; stats: { primary: number; backup: number } }>
}

const statusOf = async (n: CatteryNode): Promise<DemoStats> =>
  (await fetch(`http://127.0.0.1:${n.admin}/status`)).json() as Promise<DemoStats>

/** Copies by role on `nodes`, and whether every node sees exactly the others. */
async function look(nodes: CatteryNode[]) {
  const all = await Promise.all(nodes.map(statusOf))
  let primary = 0
  let backup = 0
  for (const s of all) {
    const c = s.contexts.find((x) => x.path === '/demo')
    primary += c?.stats.primary ?? 0
    backup += c?.stats.backup ?? 0
  }
  return { primary, backup, viewsAgree: all.every((s) => s.members.length === nodes.length - 1) }
}

async function until(what: string, fn: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await sleep(20)
  }
}

async function round(r: number) {
  const cluster = await startCattery(MEMBERS, ['--manager', 'backup', '--backups', String(BACKUPS)], `r${r}`)
  try {
    await createSessions(cluster.nodes, SESSIONS, VALUE)
    const full = async (nodes: CatteryNode[]) => {
      const l = await look(nodes)
      return l.primary === SESSIONS && l.backup === SESSIONS * BACKUPS
    }
    await until('copies placed before the kill', () => full(cluster.nodes), 120_000)
    const victim = cluster.nodes[r % MEMBERS] as CatteryNode
    const survivors = cluster.nodes.filter((n) => n !== victim)
    const killed = performance.now()
    process.kill(victim.pid, 'SIGKILL')
    let detected = 0
    await until(
      'back to 1+k copies',
      async () => {
        const l = await look(survivors)
        if (!detected && l.viewsAgree) detected = performance.now() - killed
        return detected > 0 && l.primary === SESSIONS && l.backup === SESSIONS * BACKUPS
      },
      120_000,
    )
    const repaired = performance.now() - killed
    return { detected, repaired }
  } finally {
    await cluster.stop()
  }
}

const detected: number[] = []
const repaired: number[] = []
for (let r = 0; r < ROUNDS; r++) {
  const x = await round(r)
  detected.push(x.detected)
  repaired.push(x.repaired)
  console.log(
    `round ${r + 1}/${ROUNDS}: every survivor's view without the member after ${x.detected.toFixed(0)} ms, back to ${1 + BACKUPS} copies after ${x.repaired.toFixed(0)} ms`,
  )
}
// A member's loss costs its share of the primaries and of the backups: those copies are re-made.
const lost = (SESSIONS * (1 + BACKUPS)) / MEMBERS
const afterDetection = repaired.map((t, i) => t - (detected[i] as number))
console.log()
console.log(
  `| ${MEMBERS} members, k = ${BACKUPS}, ${SESSIONS} sessions of 1 KB, kill -9 of one | median of ${ROUNDS} rounds |`,
)
console.log('| --- | --- |')
console.log(
  `| every survivor's view without the member (failure detection) | ${median(detected).toFixed(0)} ms |`,
)
console.log(
  `| every session back to ${1 + BACKUPS} copies, from the kill | ${median(repaired).toFixed(0)} ms |`,
)
console.log(`| of which after detection (repair) | ${median(afterDetection).toFixed(0)} ms |`)
console.log(
  `| copies re-made per second of repair (~${Math.round(lost)} lost with the member) | ${Math.round(lost / (median(afterDetection) / 1000))} |`,
)
