/**
 * Cattery nodes for the benchmarks, started as a user starts them (`node node/main.ts` with flags, the
 * example app base for /demo) on loopback with static membership; resolves once every node answers
 * /readyz. Logs at warn go to the benchmark's stderr.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePorts } from '../../scripts/lib/node-process.ts'
import { stopChild } from './processes.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')

export interface CatteryNode {
  name: string
  http: number
  admin: number
  pid: number
}

export interface CatteryCluster {
  nodes: CatteryNode[]
  stop(): Promise<void>
}

export async function startCattery(
  size: number,
  extra: string[] = [],
  prefix = 'c',
): Promise<CatteryCluster> {
  const receivers = await freePorts(size)
  const children: ChildProcess[] = []
  const nodes: CatteryNode[] = []
  for (let i = 0; i < size; i++) {
    const [http, admin] = (await freePorts(2)) as [number, number]
    const name = `${prefix}${i + 1}`
    const child = spawn(
      process.execPath,
      [
        path.join(ROOT, 'node/main.ts'),
        '--name',
        name,
        '--apps-dir',
        path.join(ROOT, 'examples/apps'),
        '--receiver-host',
        '127.0.0.1',
        '--receiver-port',
        String(receivers[i]),
        '--membership',
        'static',
        '--members',
        receivers.map((p) => `127.0.0.1:${p}`).join(','),
        '--http-host',
        '127.0.0.1',
        '--http-port',
        String(http),
        '--admin-host',
        '127.0.0.1',
        '--admin-port',
        String(admin),
        '--log-level',
        'warn',
        ...extra,
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    )
    children.push(child)
    nodes.push({ name, http, admin, pid: child.pid as number })
  }
  const deadline = Date.now() + 180_000 // slow to start on a busy machine
  for (const n of nodes) {
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${n.admin}/readyz`)
        .then((r) => r.ok)
        .catch(() => false)
      if (ok) break
      const child = children[nodes.indexOf(n)] as ChildProcess
      if (child.exitCode !== null) {
        for (const c of children) c.kill('SIGKILL')
        throw new Error(
          `Cattery node ${n.name} exited (${child.exitCode}) before it was ready; see its log above`,
        )
      }
      if (Date.now() > deadline) {
        for (const c of children) c.kill('SIGKILL')
        throw new Error(`Cattery node ${n.name} not ready within 180 s`)
      }
      await sleep(50)
    }
  }
  return {
    nodes,
    async stop() {
      await Promise.all(children.map((c) => stopChild(c)))
    },
  }
}

/** Creates `count` sessions holding `value` (`/demo/set?k=v`), round robin over `nodes`, 32 at a time. */
export async function createSessions(nodes: CatteryNode[], count: number, value: string): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < count) {
        const i = next++
        const n = nodes[i % nodes.length] as CatteryNode
        const r = await fetch(`http://127.0.0.1:${n.http}/demo/set?k=v&v=${value}`)
        if (r.status !== 200) throw new Error(`creating session ${i}: HTTP ${r.status}`)
        await r.arrayBuffer()
      }
    }),
  )
}
