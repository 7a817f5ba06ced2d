/**
 * Channel benchmark: messages/s and latency of 1 KB messages between 2 and 3 node processes in
 * asynchronous, ACK and synchronized-ACK modes, and MB/s of 1 MB messages — each beside raw TCP between
 * the same two processes (the ceiling), in one run. Prints a markdown table.
 * With --with-secret every cluster row is run again by a cluster with a cluster secret (authenticated
 * handshake, AES-256-GCM frames), in the same run, labelled "secret".
 *   node bench/channel.ts [--quick] [--with-secret]
 */
import { type ChildProcess, fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { freePorts } from '../test/helpers/node-process.ts'

const quick = process.argv.includes('--quick')
const withSecret = process.argv.includes('--with-secret')
const N1K = quick ? 20_000 : 200_000
const N1M = quick ? 50 : 300
const LAT = quick ? 500 : 5000
const PEER = path.join(import.meta.dirname, 'peer.ts')

type Msg = Record<string, unknown> & { op: string }

class Peer {
  readonly child: ChildProcess
  readonly #inbox: Msg[] = []
  #wake: (() => void) | undefined
  constructor() {
    this.child = fork(PEER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.child.on('message', (m: Msg) => {
      if (m.op === 'error') {
        console.error(m.error)
        process.exit(1)
      }
      this.#inbox.push(m)
      this.#wake?.()
    })
  }
  async next(op: string): Promise<Msg> {
    for (;;) {
      const i = this.#inbox.findIndex((m) => m.op === op)
      if (i >= 0) return this.#inbox.splice(i, 1)[0] as Msg
      await new Promise<void>((r) => {
        this.#wake = r
      })
    }
  }
  ask(cmd: Msg, answer: string): Promise<Msg> {
    this.child.send(cmd)
    return this.next(answer)
  }
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number
}
const us = (ns: number) => (ns / 1000).toFixed(0)

async function cluster(n: number, secret?: string): Promise<Peer[]> {
  const peers = Array.from({ length: n }, () => new Peer())
  await Promise.all(peers.map((p) => p.next('up')))
  const ports = await freePorts(n)
  const members = ports.map((p) => `127.0.0.1:${p}`)
  await Promise.all(
    peers.map((p, i) =>
      p.ask({ op: 'startChannel', name: `b${i}`, port: ports[i], members, secret }, 'ready'),
    ),
  )
  return peers
}

/** Messages/s from the first send until every receiver counted all of them. */
async function throughput(peers: Peer[], options: number, size: number, count: number, window: number) {
  const [sender, ...receivers] = peers as [Peer, ...Peer[]]
  await Promise.all(receivers.map((r) => r.ask({ op: 'expect', count }, 'expecting')))
  const t0 = Number(process.hrtime.bigint())
  sender.child.send({ op: 'load', options, size, count, window })
  const done = await Promise.all(receivers.map((r) => r.next('counted')))
  await sender.next('loaded')
  const end = Math.max(...done.map((d) => d.at as number))
  return { perSec: count / ((end - t0) / 1e9), seconds: (end - t0) / 1e9 }
}

async function rawThroughput(size: number, count: number) {
  const [server, client] = [new Peer(), new Peer()]
  await Promise.all([server.next('up'), client.next('up')])
  const [port] = await freePorts(1)
  await server.ask({ op: 'rawServer', port }, 'ready')
  await server.ask({ op: 'expect', count }, 'expecting')
  const t0 = Number(process.hrtime.bigint())
  client.child.send({ op: 'rawLoad', port, size, count })
  const done = await server.next('counted')
  const end = done.at as number
  server.child.kill()
  client.child.kill()
  return { perSec: count / ((end - t0) / 1e9) }
}

async function rawLatency(size: number, count: number) {
  const [server, client] = [new Peer(), new Peer()]
  await Promise.all([server.next('up'), client.next('up')])
  const [port] = await freePorts(1)
  await server.ask({ op: 'rawServer', port, echo: true }, 'ready')
  const r = await client.ask({ op: 'rawPing', port, size, count, gapMs: 0 }, 'latencies')
  server.child.kill()
  client.child.kill()
  return r.samples as number[]
}

const rows: string[] = []
const row = (...cells: Array<string | number>) => {
  const line = `| ${cells.join(' | ')} |`
  rows.push(line)
  console.log(line)
}

console.log(
  `# channel benchmark (${quick ? 'quick' : 'full'}), Node ${process.version}, ${new Date().toISOString()}`,
)
console.log('| scenario | result | ceiling (raw TCP, same processes) | ratio |')
console.log('| --- | --- | --- | --- |')

const raw1k = await rawThroughput(1024, N1K)
const rawLat = await rawLatency(1024, LAT)
const raw1m = await rawThroughput(1024 * 1024, N1M)

const secrets = withSecret ? [undefined, randomBytes(32).toString('base64')] : [undefined]
for (const [n, secret] of [2, 3].flatMap((n) => secrets.map((s) => [n, s] as const))) {
  const peers = await cluster(n, secret)
  const label = `${n} nodes${secret ? ' (secret)' : ''}`
  for (const [mode, options, window] of [
    ['async (8)', 8, 10_000],
    ['ACK (2)', 2, 1000],
    ['sync ACK (6)', 6, 1000],
  ] as const) {
    const t = await throughput(peers, options, 1000, N1K, window)
    row(
      `${label}, 1 KB, ${mode}, msgs/s`,
      Math.round(t.perSec).toLocaleString('en'),
      n === 2 ? Math.round(raw1k.perSec).toLocaleString('en') : '-',
      n === 2 ? `${((100 * t.perSec) / raw1k.perSec).toFixed(0)}%` : '-',
    )
  }
  for (const [mode, options] of [
    ['ACK (2)', 2],
    ['sync ACK (6)', 6],
  ] as const) {
    const r = await (peers[0] as Peer).ask(
      { op: 'latency', options, size: 1000, count: LAT, gapMs: 0 },
      'latencies',
    )
    const s = r.samples as number[]
    row(
      `${label}, 1 KB, ${mode}, round trip p50 / p99 µs (one at a time)`,
      `${us(pct(s, 50))} / ${us(pct(s, 99))}`,
      n === 2 ? `${us(pct(rawLat, 50))} / ${us(pct(rawLat, 99))}` : '-',
      n === 2 ? `${(pct(s, 99) / pct(rawLat, 99)).toFixed(1)}x (p99)` : '-',
    )
  }
  if (n === 2) {
    const rawMbs = (raw1m.perSec * 1024 * 1024) / 1e6
    for (const [mode, options] of [
      ['async (8), msgpack object', 8],
      ['async byte message (9), raw bytes', 9],
    ] as const) {
      const t = await throughput(peers, options, 1024 * 1024, N1M, 50)
      const mbs = (t.perSec * 1024 * 1024) / 1e6
      row(
        `${label}, 1 MB, ${mode}, MB/s`,
        mbs.toFixed(0),
        rawMbs.toFixed(0),
        `${((100 * mbs) / rawMbs).toFixed(0)}%`,
      )
    }
  }
  for (const p of peers) p.child.kill()
}
process.exit(0)
