/**
 * make demo: the seed's story on a 3-node cluster on loopback, printing which node answered each step:
 * a session created on A is read on B and C; A is killed (SIGKILL); the same cookie on B still has the
 * data and gets B's route; a fourth node joins and holds every session (DeltaManager) or its share
 * (BackupManager) before it reports ready; a session expires everywhere. The story runs with the
 * DeltaManager, then again with the BackupManager (each session on a primary and one backup); the
 * second cluster keeps running until Ctrl-C (--once: exit after the stories). --manager delta or
 * --manager backup runs only that one.
 */
import { writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePorts, loopbackNodeArgs, NodeProcess } from './lib/node-process.ts'

const once = process.argv.includes('--once')
const managerFlag = process.argv.indexOf('--manager')
const chosen = managerFlag >= 0 ? (process.argv[managerFlag + 1] ?? '') : 'both'
if (!['delta', 'backup', 'both'].includes(chosen))
  throw new Error(`--manager: delta, backup or both, not ${JSON.stringify(chosen)}`)
const managers = chosen === 'both' ? ['delta', 'backup'] : [chosen]
const BIN = path.resolve(import.meta.dirname, '../dist/node/main.js')
const say = (s = '') => process.stdout.write(`${s}\n`)
const names = ['A', 'B', 'C', 'D']
// Each story's cluster has ports of its own (story() takes them).
let receivers: number[] = []
let https: number[] = []
let admins: number[] = []
let manager = 'delta'
const config = path.join(os.tmpdir(), `cattery-demo-${process.pid}.yaml`)
// Expiry is checked every second here (Tomcat: every 60 s), so the story does not wait.
writeFileSync(config, 'manager:\n  processExpiresFrequency: 1\n  backgroundProcessorDelay: 1\n')

let nodes: NodeProcess[] = []
const start = (i: number) => {
  const n = new NodeProcess(
    names[i] as string,
    [
      '--config',
      config,
      '--manager',
      manager,
      ...loopbackNodeArgs({
        receiver: receivers[i] as number,
        members: receivers,
        http: https[i] as number,
        admin: admins[i] as number,
      }),
    ],
    { command: [process.execPath, BIN] },
  )
  nodes.push(n)
  return n
}
const stopAll = async () => {
  await Promise.all(nodes.map((n) => n.stop('SIGTERM')))
}
process.on('SIGINT', () => void stopAll().then(() => process.exit(0)))

const http = (i: number) => `http://127.0.0.1:${https[i]}/demo`
async function get(i: number, p: string, cookie?: string) {
  const res = await fetch(`${http(i)}${p}`, { headers: cookie ? { cookie } : {} })
  const body = (await res.json()) as Record<string, unknown>
  const set = /JSESSIONID=([^;]+)/.exec(res.headers.get('set-cookie') ?? '')?.[1]
  return { body, cookie: set ? `JSESSIONID=${set}` : cookie }
}
const status = async (i: number) =>
  (await fetch(`http://127.0.0.1:${admins[i]}/status`)).json() as Promise<{
    members: unknown[]
    ready: boolean
    contexts: Array<{ sessions: number }>
  }>
async function until(fn: () => Promise<boolean>, ms = 20_000) {
  const end = Date.now() + ms
  while (!(await fn().catch(() => false))) {
    if (Date.now() > end) throw new Error('the demo timed out')
    await sleep(50)
  }
}

/** The story on a new cluster; the last one keeps running unless --once. */
async function story(kind: string, last: boolean): Promise<void> {
  manager = kind
  nodes = []
  receivers = await freePorts(4)
  https = await freePorts(4)
  admins = await freePorts(4)
  say(`=== ${kind === 'backup' ? 'BackupManager' : 'DeltaManager'} ===\n`)
  say(
    `1. Starting nodes A, B and C (HTTP ports ${https.slice(0, 3).join(', ')}, static membership on loopback, ${manager === 'backup' ? 'BackupManager: a primary and one backup per session' : 'DeltaManager: every node holds every session'})`,
  )
  for (const i of [0, 1, 2]) start(i)
  await Promise.all(nodes.map((n) => n.waitFor((l) => l.event === 'started', 20_000)))
  await until(async () => (await Promise.all([0, 1, 2].map(status))).every((s) => s.members.length === 2))
  say('   the cluster has formed: every node sees the other two\n')

  say('2. A request to A creates a session')
  let r = await get(0, '/set?k=user&v=alice')
  let cookie = r.cookie as string
  say(`   ${r.body.node} answered: session ${r.body.sessionId}, user=alice   (cookie ${cookie})`)
  if (manager === 'backup') {
    const held = await Promise.all(
      [0, 1, 2].map((i) =>
        fetch(`http://127.0.0.1:${admins[i]}/sessions/${r.body.sessionId}?context=/demo`).then(
          (x) => x.status,
        ),
      ),
    )
    const holders = names.filter((_, i) => held[i] === 200)
    say(`   held by ${holders.join(' and ')} (primary and backup); the other node fetches it when asked`)
  }
  for (const i of [1, 2]) {
    await until(async () => (await get(i, '/get?k=user', cookie)).body.v === 'alice')
    const read = await get(i, '/get?k=user', cookie)
    say(`   the same cookie on ${read.body.node}: user=${read.body.v}`)
  }
  say()

  say('3. A crashes (SIGKILL)')
  const seen = nodes[1]?.lines.length ?? 0
  await nodes[0]?.stop('SIGKILL')
  const gone = await nodes[1]?.waitFor((l) => l.event === 'member-disappeared', 10_000, seen)
  say(`   B noticed: A disappeared (${gone?.reason})`)
  r = await get(1, '/get?k=user', cookie)
  say(`   the cookie that named A, sent to ${r.body.node}: user=${r.body.v}`)
  say(`   ${r.body.node} rebound the session to its own route: new cookie ${r.cookie}\n`)
  cookie = r.cookie as string

  say('4. 5,000 more sessions on B, then node D joins')
  let next = 0
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next++ < 5000) await get(1, '/inc')
    }),
  )
  const total = (await status(1)).contexts[0]?.sessions
  const t0 = Date.now()
  start(3)
  await until(async () => (await fetch(`http://127.0.0.1:${admins[3]}/readyz`)).status === 200)
  const d = await status(3)
  say(
    `   D reported ready after ${Date.now() - t0} ms, holding ${d.contexts[0]?.sessions} of ${total} sessions`,
  )
  r = await get(3, '/get?k=user', cookie)
  say(`   the first session read on ${r.body.node}: user=${r.body.v}\n`)

  say('5. A session set to expire after 2 s of inactivity')
  const short = await get(2, '/set?k=temp&v=1')
  await get(2, '/timeout?s=2', short.cookie)
  const id = short.body.sessionId as string
  const t1 = Date.now()
  const heldAnywhere = async () => {
    const answers = await Promise.all(
      [1, 2, 3].map((i) =>
        fetch(`http://127.0.0.1:${admins[i]}/sessions/${id}?context=/demo`).then((x) => x.status),
      ),
    )
    return answers.some((s) => s === 200)
  }
  await until(async () => !(await heldAnywhere()))
  say(`   gone from B, C and D ${Date.now() - t1} ms later\n`)

  if (!last) return
  if (once) {
    say('done (--once)')
  } else {
    say('The cluster keeps running; try:')
    say(`   curl -c /tmp/jar -b /tmp/jar '${http(1)}/inc'      then the same on ${http(2)} or ${http(3)}`)
    say(`   curl http://127.0.0.1:${admins[1]}/status   and   /metrics`)
    say('Ctrl-C stops every node.')
    await new Promise(() => {})
  }
}

try {
  for (const [i, kind] of managers.entries()) {
    const last = i === managers.length - 1
    await story(kind, last)
    if (!last) {
      await stopAll()
      say()
    }
  }
} finally {
  if (once) await stopAll()
}
