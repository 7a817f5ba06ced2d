/**
 * Image benchmark (issue 5), one run each (needs `make image` and `npm run build`):
 *  - sizes of the node and operator images, and what each adds on top of its Node.js base;
 *  - time from `podman run` to the node's /readyz 200 for a first node, and for a joiner while a
 *    node holds 5,000 sessions (multicast membership on a user-defined network, the images' default);
 *  - beside them, the same node program started directly on the host (node dist/node/main.js, multicast
 *    on the host's interface, its own multicast port) from spawn to /readyz 200: the process-start
 *    reference, so the container's cost is a ratio.
 *   node bench/images.ts [--quick]
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { EXAMPLE_APPS, freePorts, NodeProcess } from '../scripts/lib/node-process.ts'

const ROOT = path.resolve(import.meta.dirname, '..')
const quick = process.argv.includes('--quick')
const RUNS = quick ? 2 : 5
const SESSIONS = 5_000
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string })
  .version
const NODE_IMAGE = `localhost/cattery-node:${VERSION}`
const OPERATOR_IMAGE = `localhost/cattery-operator:${VERSION}`
const BASE_IMAGE = process.env.CATTERY_BASE_IMAGE ?? 'localhost/cattery-node-base:24'
const LABEL = 'dev.cattery.bench=images'
const NETWORK = `cattery-bench-${process.pid}`
const DIST_MAIN = path.join(ROOT, 'dist/node/main.js')

const podman = (...args: string[]) => execFileSync('podman', args, { encoding: 'utf8' }).trim()

function cleanup(): void {
  const ids = podman('ps', '-aq', '--filter', `label=${LABEL}`).split('\n').filter(Boolean)
  if (ids.length) podman('rm', '-f', '-t', '0', ...ids)
  const nets = podman('network', 'ls', '-q', '--filter', `label=${LABEL}`).split('\n').filter(Boolean)
  if (nets.length) podman('network', 'rm', ...nets)
}

for (const image of [NODE_IMAGE, OPERATOR_IMAGE, BASE_IMAGE]) {
  if (spawnSync('podman', ['image', 'exists', image]).status !== 0) {
    console.error(`image ${image} is missing: build it with make image`)
    process.exit(1)
  }
}
if (spawnSync(process.execPath, [DIST_MAIN, '--version']).status !== 0) {
  console.error(`${DIST_MAIN} is missing: npm run build`)
  process.exit(1)
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(0)
const size = (image: string) => Number(podman('image', 'inspect', '--format', '{{.Size}}', image))

/** Polls http://127.0.0.1:port/path every 5 ms until it answers 200; resolves with the time. */
/** The admin servers listen on every address here, so /status needs a token. */
const ADMIN_TOKEN = 'cattery-bench-admin-token'
/**
 * The nodes' receivers are reachable from the network, so they need a cluster secret (secure by
 * default, docs/security.md): one file, mounted into the containers as the operator mounts it.
 */
const SECRET_DIR = mkdtempSync(path.join(os.tmpdir(), 'cattery-bench-secret-'))
const SECRET_FILE = path.join(SECRET_DIR, 'cluster-secret')
writeFileSync(SECRET_FILE, `${randomBytes(32).toString('base64')}\n`, { mode: 0o444 })
const CONTAINER_SECRET_FILE = '/etc/cattery/cluster-secret'

async function until200(port: number, p: string, timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}${p}`)
      .then((r) => r.status === 200)
      .catch(() => false)
    if (ok) return performance.now()
    if (Date.now() > deadline) throw new Error(`no 200 from :${port}${p}`)
    await sleep(5)
  }
}

/** Milliseconds from `podman run` (or the host process's spawn) to /livez 200 and to /readyz 200, and for
 * a container also from its process start (podman's State.StartedAt). */
interface Timing {
  live: number
  ready: number
  startLive?: number
  startReady?: number
}

/** `podman run` of a node; the admin port (and HTTP port, for the donor) published on loopback. */
async function runContainer(name: string): Promise<{ timing: Timing; admin: number; http: number }> {
  const [admin, http] = (await freePorts(2)) as [number, number]
  const t0 = performance.now()
  const wall0 = Date.now()
  const args = ['run', '-d', '--label', LABEL, '--network', NETWORK, '--name', `${NETWORK}-${name}`]
  args.push('-p', `127.0.0.1:${admin}:9090`, '-p', `127.0.0.1:${http}:8080`)
  args.push('-v', `${SECRET_FILE}:${CONTAINER_SECRET_FILE}:ro`, NODE_IMAGE)
  args.push('--name', name, '--membership', 'multicast', '--log-level', 'warn', '--admin-token', ADMIN_TOKEN)
  args.push('--cluster-secret-file', CONTAINER_SECRET_FILE)
  const run = new Promise<void>((resolve, reject) =>
    execFile('podman', args, (err) => (err ? reject(err) : resolve())),
  )
  const live = await until200(admin, '/livez')
  const ready = await until200(admin, '/readyz')
  await run
  const startedAt = Date.parse(
    podman(
      'inspect',
      '--format',
      '{{.State.StartedAt.Format "2006-01-02T15:04:05.000Z07:00"}}',
      `${NETWORK}-${name}`,
    ),
  )
  const sinceStart = (t: number) => wall0 + (t - t0) - startedAt
  const timing = {
    live: live - t0,
    ready: ready - t0,
    startLive: sinceStart(live),
    startReady: sinceStart(ready),
  }
  return { timing, admin, http }
}

/** The same program on the host: node dist/node/main.js, multicast on the host's interface. */
async function runHost(
  name: string,
  mcastPort: number,
): Promise<{ timing: Timing; proc: NodeProcess; http: number }> {
  const [admin, http, receiver] = (await freePorts(3)) as [number, number, number]
  const t0 = performance.now()
  const proc = new NodeProcess(
    name,
    [
      '--receiver-host',
      '0.0.0.0',
      '--receiver-port',
      String(receiver),
      '--multicast-port',
      String(mcastPort),
    ].concat(
      ['--http-port', String(http), '--admin-port', String(admin), '--log-level', 'warn'],
      ['--apps-dir', EXAMPLE_APPS],
      ['--admin-token', ADMIN_TOKEN, '--cluster-secret-file', SECRET_FILE],
    ),
    { command: [process.execPath, DIST_MAIN] },
  )
  const live = await until200(admin, '/livez')
  const ready = await until200(admin, '/readyz')
  return { timing: { live: live - t0, ready: ready - t0 }, proc, http }
}

async function createSessions(http: number, count: number): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < count) {
      next++
      const r = await fetch(`http://127.0.0.1:${http}/demo/set?k=i&v=x`)
      await r.arrayBuffer()
      if (r.status !== 200) throw new Error(`session not created: ${r.status}`)
    }
  }
  await Promise.all(Array.from({ length: 32 }, worker))
}

async function membersOf(admin: number): Promise<number> {
  const s = (await (
    await fetch(`http://127.0.0.1:${admin}/status`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  ).json()) as { members: unknown[] }
  return s.members.length
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
const fmt = (xs: number[]) =>
  `${median(xs).toFixed(0)} (${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)})`

cleanup()
podman('network', 'create', '--label', LABEL, NETWORK)
try {
  // Sizes.
  const base = size(BASE_IMAGE)
  const node = size(NODE_IMAGE)
  const operator = size(OPERATOR_IMAGE)
  const layers = (image: string) =>
    JSON.parse(podman('image', 'inspect', '--format', '{{json .RootFS.Layers}}', image)) as string[]
  const onBase = (image: string) => layers(image).join().startsWith(layers(BASE_IMAGE).join())
  if (!onBase(NODE_IMAGE) || !onBase(OPERATOR_IMAGE)) console.error(`note: images not built on ${BASE_IMAGE}`)

  // First node: each run alone on the network (the previous one removed), one warm-up run not counted.
  const first: Timing[] = []
  const hostFirst: Timing[] = []
  for (let i = 0; i <= RUNS; i++) {
    const c = await runContainer(`f${i}`)
    podman('rm', '-f', '-t', '0', `${NETWORK}-f${i}`)
    const h = await runHost(`h${i}`, 46000 + (process.pid % 1000) * 10 + i)
    await h.proc.stop('SIGKILL')
    if (i > 0) {
      first.push(c.timing)
      hostFirst.push(h.timing)
    }
  }

  // Joiner: a donor holding 5,000 sessions; each joiner is removed and dropped before the next.
  const donor = await runContainer('donor')
  await createSessions(donor.http, SESSIONS)
  const joiner: Timing[] = []
  for (let i = 0; i < RUNS; i++) {
    const j = await runContainer(`j${i}`)
    joiner.push(j.timing)
    podman('rm', '-f', '-t', '0', `${NETWORK}-j${i}`)
    while ((await membersOf(donor.admin)) !== 0) await sleep(20)
  }
  const mcast = 47000 + (process.pid % 1000)
  const hostDonor = await runHost('hd', mcast)
  await createSessions(hostDonor.http, SESSIONS)
  const hostJoiner: Timing[] = []
  for (let i = 0; i < RUNS; i++) {
    const j = await runHost(`hj${i}`, mcast)
    hostJoiner.push(j.timing)
    await j.proc.stop('SIGTERM')
  }
  await hostDonor.proc.stop('SIGKILL')

  const row = (cells: string[]) => `| ${cells.join(' | ')} |`
  console.log(
    `\nImages (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${RUNS} runs each, median (min-max) ms)\n`,
  )
  console.log(row(['image', 'size MB', 'on top of the base MB']))
  console.log(row(['---', '---', '---']))
  console.log(row([`base ${BASE_IMAGE}`, mb(base), '-']))
  console.log(row([NODE_IMAGE, mb(node), mb(node - base)]))
  console.log(row([OPERATOR_IMAGE, mb(operator), mb(operator - base)]))
  console.log('')
  console.log(
    row([
      'scenario',
      'container: podman run → /livez, → /readyz',
      'container: process start → /livez, → /readyz',
      'host: spawn → /livez, → /readyz',
      'ratio (podman run / spawn, to /readyz)',
    ]),
  )
  console.log(row(['---', '---', '---', '---', '---']))
  const both = (ts: Timing[]) => `${fmt(ts.map((t) => t.live))}, ${fmt(ts.map((t) => t.ready))}`
  const ratio = (a: Timing[], b: Timing[]) =>
    `${(median(a.map((t) => t.ready)) / median(b.map((t) => t.ready))).toFixed(2)}x`
  for (const [name, c, h] of [
    ['first node', first, hostFirst],
    [`joiner, ${SESSIONS.toLocaleString('en')} sessions`, joiner, hostJoiner],
  ] as const) {
    const fromStart = (ts: Timing[]) =>
      `${fmt(ts.map((t) => t.startLive as number))}, ${fmt(ts.map((t) => t.startReady as number))}`
    console.log(row([name, both(c), fromStart(c), both(h), ratio(c, h)]))
  }
} finally {
  cleanup()
  rmSync(SECRET_DIR, { recursive: true, force: true })
}
