import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { codes } from '../../node/tribes/errors.ts'
import { createTestNetwork, type TestNetwork } from '../helpers/netns.ts'
import { EXAMPLE_APPS, MAIN, NodeProcess, stopAll } from '../helpers/node-process.ts'

// Short timings keep the suite fast; the logic is the same as with Tomcat's 500 / 3000 ms.
const FREQUENCY = 100
const DROP_TIME = 1000

interface Observed {
  members: string[]
  refused: Record<string, number>
  security: string
  values: Array<string | null>
}

describe('multicast membership across a real network (namespaces joined by a bridge)', () => {
  let net: TestNetwork
  let config: string
  let secret: string
  const nodes: NodeProcess[] = []
  const start = (i: number, name: string, extra: string[] = []) => {
    const ns = net.namespaces[i] as { address: string }
    const n = new NodeProcess(
      name,
      [
        '--config',
        config,
        '--membership',
        'multicast',
        '--receiver-host',
        ns.address,
        '--http-port',
        '0',
        '--admin-host',
        '127.0.0.1', // the namespace's own loopback: /status needs no token there
        '--admin-port',
        '0',
        '--cluster-secret-file',
        secret,
        ...extra,
      ],
      { command: [...net.exec(i), process.execPath, MAIN] },
    )
    nodes.push(n)
    return n
  }

  /** Runs node with `args` inside namespace i; its stdout. */
  const inNamespace = (i: number, args: string[]) =>
    execFileSync(net.exec(i)[0] as string, [...net.exec(i).slice(1), process.execPath, ...args], {
      encoding: 'utf8',
      timeout: 10_000,
    })

  before(() => {
    net = createTestNetwork(5)
    config = path.join(os.tmpdir(), `cattery-mcast-${process.pid}.yaml`)
    writeFileSync(config, `membership:\n  frequency: ${FREQUENCY}\n  dropTime: ${DROP_TIME}\n`)
    secret = path.join(os.tmpdir(), `cattery-mcast-secret-${process.pid}`)
    writeFileSync(secret, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 })
  })
  after(async () => {
    await stopAll(nodes)
    net.destroy()
  })

  it('three nodes in three namespaces find each other by heartbeat', async () => {
    const apps = ['--apps-dir', EXAMPLE_APPS, '--admin-show-session-values']
    const [a, b, c] = [start(0, 'm1', apps), start(1, 'm2', apps), start(2, 'm3', apps)]
    await Promise.all([a.waitForView(['m2', 'm3']), b.waitForView(['m1', 'm3']), c.waitForView(['m1', 'm2'])])
  })

  it("refuses and counts a SHUTDOWN and heartbeats forged in a real member's name, replayed or wrongly keyed; every node keeps every member and every session", async () => {
    const trio = nodes.slice(0, 3) as [NodeProcess, NodeProcess, NodeProcess]
    const ports = await Promise.all(
      trio.map(async (n) => {
        const l = await n.waitFor((x) => x.event === 'started')
        return { http: l.httpPort as number, admin: l.adminPort as number }
      }),
    )
    // What node i holds, read inside its namespace: its members, refusals and the sessions' values.
    const observe = (i: number, ids: string[]): Observed => {
      const { admin } = ports[i] as { admin: number }
      const script = `(async () => {
        const get = (p) => fetch('http://127.0.0.1:${admin}' + p).then((r) => r.ok ? r.json() : null)
        const s = await get('/status')
        const values = []
        for (const id of ${JSON.stringify(ids)}) values.push((await get('/sessions/' + id))?.attributes?.v?.value ?? null)
        console.log(JSON.stringify({ members: s.members.map((m) => m.name).sort(), refused: s.channel.framesRefused, security: s.channel.security, values }))
      })()`
      return JSON.parse(inNamespace(i, ['-e', script]))
    }
    // One session created on each node, replicated to the others.
    const ids = trio.map((_, i) => {
      const url = `http://127.0.0.1:${ports[i]?.http}/demo/set?k=v&v=value-${i}`
      const script = `fetch('${url}').then((r) => r.json()).then((b) => console.log(b.sessionId))`
      return inNamespace(i, ['-e', script]).trim().replace(/\..*$/, '')
    })
    const values = ids.map((_, i) => `value-${i}`)
    const members = (i: number) => ['m1', 'm2', 'm3'].filter((_, j) => j !== i)
    const deadline = Date.now() + 15_000
    while (!trio.every((_, i) => JSON.stringify(observe(i, ids).values) === JSON.stringify(values))) {
      if (Date.now() > deadline)
        throw new Error(`sessions not replicated: ${JSON.stringify(observe(0, ids))}`)
      await new Promise((r) => setTimeout(r, 200))
    }
    const before = trio.map((_, i) => observe(i, ids))
    const marks = trio.map((n) => n.lines.length)

    const ns = net.namespaces[3] as { address: string }
    const spoof = path.join(import.meta.dirname, '../helpers/multicast-spoof.ts')
    const sent = JSON.parse(
      execFileSync(
        net.exec(3)[0] as string,
        [...net.exec(3).slice(1), process.execPath, spoof, '228.0.0.4', '45564', ns.address, 'm2'],
        { encoding: 'utf8', timeout: 10_000 },
      ),
    ) as { unauthenticated: number; replayed: number }
    // A forged SHUTDOWN, had it been taken, drops the member at once; a forged heartbeat at the next beat.
    await new Promise((r) => setTimeout(r, 5 * FREQUENCY))
    for (const [i, n] of trio.entries()) {
      const after = observe(i, ids)
      assert.equal(after.security, 'secret')
      assert.deepEqual(after.members, members(i), `${n.name}'s members`)
      assert.deepEqual(
        n.lines.slice(marks[i]).filter((l) => l.event === 'member-disappeared' || l.event === 'member-added'),
        [],
        `${n.name} saw no member come or go`,
      )
      assert.deepEqual(after.values, values, `${n.name}'s sessions`)
      const counted = (code: string) => (after.refused[code] ?? 0) - (before[i]?.refused[code] ?? 0)
      assert.equal(
        counted(codes.PACKET_UNAUTHENTICATED),
        sent.unauthenticated,
        `${n.name}: ${JSON.stringify(after.refused)}`,
      )
      // m2 ignores its own heartbeat before any check: only the others see the replay.
      assert.equal(
        counted(codes.PACKET_REPLAY),
        n.name === 'm2' ? 0 : sent.replayed,
        `${n.name}: ${JSON.stringify(after.refused)}`,
      )
    }
  })

  it('a node in another domain is not seen', async () => {
    const other = start(3, 'x1', ['--domain', 'other'])
    await other.waitFor((l) => l.event === 'started')
    await new Promise((r) => setTimeout(r, 5 * FREQUENCY))
    assert.deepEqual(other.view(), [])
    assert.deepEqual(nodes[0]?.view(), ['m2', 'm3'])
    await other.stop()
  })

  it('a node whose link is cut is dropped after dropTime of silence', async (t) => {
    const [a, b] = nodes as [NodeProcess, NodeProcess]
    const marks = [a.lines.length, b.lines.length]
    const at = Date.now()
    net.linkDown(2)
    const seen = await Promise.all(
      [a, b].map((n, i) =>
        n.waitFor((l) => l.event === 'member-disappeared' && l.member?.name === 'm3', 10_000, marks[i]),
      ),
    )
    const first = Math.min(...seen.map((l) => l.time - at))
    t.diagnostic(
      `silent member dropped after ${first}-${Math.max(...seen.map((l) => l.time - at))} ms (dropTime ${DROP_TIME})`,
    )
    assert.ok(first >= DROP_TIME - FREQUENCY, `dropped after ${first} ms, before dropTime`)
    for (const l of seen) assert.equal(l.reason, 'timeout')
    net.linkUp(2)
    // Its heartbeats reach the others again: it is a member again.
    await Promise.all([a.waitForView(['m2', 'm3']), b.waitForView(['m1', 'm3'])]).catch((err) => {
      console.log(JSON.stringify(nodes[2]?.lines.slice(-6)), nodes[2]?.stderr)
      throw err
    })
  })

  it('a node stopped with SIGTERM announces its departure and is dropped at once', async (t) => {
    const [a, b, c] = nodes as [NodeProcess, NodeProcess, NodeProcess]
    const marks = [a.lines.length, b.lines.length]
    const at = Date.now()
    await c.stop('SIGTERM')
    const seen = await Promise.all(
      [a, b].map((n, i) =>
        n.waitFor((l) => l.event === 'member-disappeared' && l.member?.name === 'm3', 5000, marks[i]),
      ),
    )
    const slowest = Math.max(...seen.map((l) => l.time - at))
    t.diagnostic(`departure noticed within ${slowest} ms`)
    for (const l of seen) assert.equal(l.reason, 'shutdown')
    assert.ok(slowest < DROP_TIME / 2, `took ${slowest} ms`)
  })

  it('a node restarted in the same place is added again as a new member', async () => {
    const [a] = nodes as [NodeProcess]
    const mark = a.lines.length
    start(2, 'm3')
    await a.waitFor((l) => l.event === 'member-added' && l.member?.name === 'm3', 10_000, mark)
    assert.deepEqual(a.view(), ['m2', 'm3'])
  })

  it('a joining node hears the members already there at once, not after two heartbeat intervals', async (t) => {
    // Heartbeats 2 s apart: Tomcat's McastService would wait 4 s at start and hear j1 only on its next beat.
    const slow = path.join(os.tmpdir(), `cattery-mcast-slow-${process.pid}.yaml`)
    writeFileSync(slow, 'membership:\n  frequency: 2000\n  dropTime: 10000\n')
    const j1 = start(3, 'j1', ['--config', slow])
    await j1.waitFor((l) => l.event === 'started')
    const j2 = start(4, 'j2', ['--config', slow])
    const started = await j2.waitFor((l) => l.event === 'started')
    const added = j2.lines.find((l) => l.event === 'member-added' && l.member?.name === 'j1')
    assert.ok(added && added.time <= started.time, 'j1 is known before j2 has started')
    const startup = started.time - (j2.lines[0]?.time ?? 0)
    t.diagnostic(`j2: first log line to started in ${startup} ms (frequency 2000 ms)`)
    assert.ok(startup < 1500, `took ${startup} ms`)
    await Promise.all([j1.stop(), j2.stop()])
  })
})
