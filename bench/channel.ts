/**
 * Channel benchmark: messages/s and latency of 1 KB messages between 2 and 3 node processes in
 * asynchronous, ACK and synchronized-ACK modes, and MB/s of 1 MB messages — each beside raw TCP between
 * two processes (the ceiling). In rounds: every round measures the ceiling and then every scenario,
 * so each figure has a ceiling of its own round; the table gives medians of the figures and of the
 * per-round ratios. With --with-secret every cluster row is run again by a cluster with a cluster
 * secret (authenticated handshake, AES-256-GCM records), labelled "secret".
 *   node bench/channel.ts [--quick] [--with-secret]
 */
import { type ChildProcess, fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { freePorts } from '../scripts/lib/node-process.ts'
import { median } from './lib/wrk.ts'

const quick = process.argv.includes('--quick')
const withSecret = process.argv.includes('--with-secret')
const N1K = quick ? 20_000 : 200_000
const N1M = quick ? 50 : 300
const LAT = quick ? 500 : 5000
const ROUNDS = quick ? 3 : 5
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

/** One figure per round, with the ceiling measured in the same round. */
interface Series {
  label: string
  unit: string
  values: number[]
  ceilings: number[]
  /** Latency rows: p50 and p99 per round, and the raw ones. */
  p50?: number[]
  rawP50?: number[]
}
const series = new Map<string, Series>()
const record = (
  label: string,
  unit: string,
  value: number,
  ceiling: number,
  p50?: number,
  rawP50?: number,
) => {
  const s = series.get(label) ?? { label, unit, values: [], ceilings: [], p50: [], rawP50: [] }
  s.values.push(value)
  s.ceilings.push(ceiling)
  if (p50 !== undefined) s.p50?.push(p50)
  if (rawP50 !== undefined) s.rawP50?.push(rawP50)
  series.set(label, s)
}

console.log(
  `# channel benchmark (${quick ? 'quick' : 'full'}), Node ${process.version}, ${new Date().toISOString()}, ${ROUNDS} rounds`,
)
const secrets = withSecret ? [undefined, randomBytes(32).toString('base64')] : [undefined]
const clusters: Array<{ n: number; label: string; peers: Peer[] }> = []
for (const [n, secret] of [2, 3].flatMap((n) => secrets.map((s) => [n, s] as const)))
  clusters.push({ n, label: `${n} nodes${secret ? ' (secret)' : ''}`, peers: await cluster(n, secret) })

for (let round = 0; round < ROUNDS; round++) {
  const raw1k = (await rawThroughput(1024, N1K)).perSec
  const rawLat = await rawLatency(1024, LAT)
  const raw1m = (await rawThroughput(1024 * 1024, N1M)).perSec
  const rawMbs = (raw1m * 1024 * 1024) / 1e6
  for (const { n, label, peers } of clusters) {
    for (const [mode, options, window] of [
      ['async (8)', 8, 10_000],
      ['ACK (2)', 2, 1000],
      ['sync ACK (6)', 6, 1000],
    ] as const) {
      const t = await throughput(peers, options, 1000, N1K, window)
      record(`${label}, 1 KB, ${mode}, msgs/s`, 'msgs/s', t.perSec, raw1k)
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
      record(
        `${label}, 1 KB, ${mode}, round trip p50 / p99 µs (one at a time)`,
        'µs',
        pct(s, 99),
        pct(rawLat, 99),
        pct(s, 50),
        pct(rawLat, 50),
      )
    }
    if (n === 2) {
      for (const [mode, options] of [
        ['async (8), msgpack object', 8],
        ['async byte message (9), raw bytes', 9],
      ] as const) {
        const t = await throughput(peers, options, 1024 * 1024, N1M, 50)
        record(`${label}, 1 MB, ${mode}, MB/s`, 'MB/s', (t.perSec * 1024 * 1024) / 1e6, rawMbs)
      }
    }
  }
  console.log(`round ${round + 1}/${ROUNDS}: raw TCP 1 KB ${Math.round(raw1k).toLocaleString('en')} msgs/s`)
}

console.log()
console.log('| scenario | result (median) | ceiling: raw TCP (median) | ratio (median of per-round ratios) |')
console.log('| --- | --- | --- | --- |')
for (const s of series.values()) {
  const ratios = s.values.map((v, i) => v / (s.ceilings[i] ?? 1))
  if (s.unit === 'µs') {
    console.log(
      `| ${s.label} | ${us(median(s.p50 ?? []))} / ${us(median(s.values))} | ${us(median(s.rawP50 ?? []))} / ${us(median(s.ceilings))} | ${median(ratios).toFixed(1)}x (p99) |`,
    )
  } else {
    const fmt = (x: number) => (s.unit === 'MB/s' ? x.toFixed(0) : Math.round(x).toLocaleString('en'))
    console.log(
      `| ${s.label} | ${fmt(median(s.values))} | ${fmt(median(s.ceilings))} | ${(100 * median(ratios)).toFixed(0)}% (${ratios.map((r) => `${(100 * r).toFixed(0)}%`).join(', ')}) |`,
    )
  }
}
for (const c of clusters) for (const p of c.peers) p.child.kill()
process.exit(0)
