/**
 * One benchmark process: runs a channel (or a raw TCP endpoint) and obeys the orchestrator
 * (bench/channel.ts) over IPC. Timing uses process.hrtime (CLOCK_MONOTONIC), which is shared by all
 * processes on the machine, so one-way latencies can be measured across processes.
 */
import net from 'node:net'
import { createChannel } from '../node/tribes/channel.ts'
import type { Channel } from '../node/tribes/channel-types.ts'
import type { InterceptorConfig } from '../node/tribes/options.ts'

type Cmd = Record<string, unknown> & { op: string }
const now = () => Number(process.hrtime.bigint())
const reply = (m: Record<string, unknown>) => process.send?.(m)

let channel: Channel | undefined
let counted = 0
let expect = 0
let oneWay: number[] = []

function payload(size: number): Buffer {
  return Buffer.alloc(size, 7)
}

async function startChannel(c: Cmd) {
  channel = createChannel({
    name: c.name as string,
    receiver: { host: '127.0.0.1', port: c.port as number, autoBind: 1 },
    membership: { type: 'static', members: c.members as string[], pingInterval: 500, expireTime: 5000 },
    interceptors: (c.interceptors as InterceptorConfig[] | undefined) ?? undefined,
    ...(c.secret ? { security: { secret: c.secret as string } } : {}),
  })
  channel.addChannelListener({
    messageReceived(m) {
      const p = m.payload as { t?: number }
      if (p?.t !== undefined && oneWay.length < 100_000) oneWay.push(now() - p.t)
      if (++counted === expect) reply({ op: 'counted', at: now() })
    },
  })
  await channel.start()
  const want = (c.members as string[]).length - 1
  while (channel.members().length < want) await new Promise((r) => setTimeout(r, 10))
  reply({ op: 'ready' })
}

async function load(c: Cmd) {
  const ch = channel as Channel
  const to = ch.members()
  const body = payload(c.size as number)
  const count = c.count as number
  const window = (c.window as number) ?? 1
  const options = c.options as number
  const t0 = now()
  let inFlight: Promise<void>[] = []
  for (let i = 0; i < count; i++) {
    inFlight.push(ch.send(to, options & 1 ? body : { i, t: now(), b: body }, options))
    if (inFlight.length >= window) {
      await Promise.all(inFlight)
      inFlight = []
    }
  }
  await Promise.all(inFlight)
  reply({ op: 'loaded', ns: now() - t0 })
}

async function latency(c: Cmd) {
  const ch = channel as Channel
  const to = ch.members()
  const body = payload(c.size as number)
  const samples: number[] = []
  for (let i = 0; i < (c.count as number); i++) {
    const t = now()
    await ch.send(to, { i, b: body }, c.options as number)
    samples.push(now() - t)
    if (c.gapMs) await new Promise((r) => setTimeout(r, c.gapMs as number))
  }
  reply({ op: 'latencies', samples })
}

/** Raw TCP: length-prefixed frames; 'echo' answers every frame with a 1-byte frame. */
function rawServer(c: Cmd) {
  const server = net.createServer({ noDelay: true }, (s) => {
    // Streaming parse: only the 4-byte length prefixes are looked at, bodies are skipped, nothing is
    // copied (the ceiling must not pay for buffering a reader does not need).
    let need = 0 // body bytes still to skip
    let head = Buffer.alloc(0) // a length prefix split across chunks
    s.on('data', (chunk: Buffer) => {
      let off = 0
      while (off < chunk.length) {
        if (need > 0) {
          const k = Math.min(need, chunk.length - off)
          need -= k
          off += k
          if (need === 0) done()
          continue
        }
        const take = Math.min(4 - head.length, chunk.length - off)
        head = Buffer.concat([head, chunk.subarray(off, off + take)])
        off += take
        if (head.length < 4) break
        need = head.readUInt32BE(0)
        head = Buffer.alloc(0)
        if (need === 0) done()
      }
    })
    const done = () => {
      if (c.echo) s.write(ECHO)
      if (++counted === expect) reply({ op: 'counted', at: now() })
    }
  })
  server.listen(c.port as number, '127.0.0.1', () => reply({ op: 'ready' }))
}
const ECHO = Buffer.from([0, 0, 0, 1, 0])

function rawConnect(port: number): Promise<net.Socket> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1', noDelay: true }, () => resolve(s))
  })
}

async function rawLoad(c: Cmd) {
  const s = await rawConnect(c.port as number)
  const frame = Buffer.alloc(4 + (c.size as number), 7)
  frame.writeUInt32BE(c.size as number, 0)
  const t0 = now()
  for (let i = 0; i < (c.count as number); i++) {
    if (!s.write(frame)) await new Promise((r) => s.once('drain', r))
  }
  reply({ op: 'loaded', ns: now() - t0 })
}

async function rawPing(c: Cmd) {
  const s = await rawConnect(c.port as number)
  const frame = Buffer.alloc(4 + (c.size as number), 7)
  frame.writeUInt32BE(c.size as number, 0)
  const samples: number[] = []
  for (let i = 0; i < (c.count as number); i++) {
    const t = now()
    await new Promise<void>((resolve) => {
      let got = 0
      const on = (d: Buffer) => {
        got += d.length
        if (got >= 5) {
          s.off('data', on)
          resolve()
        }
      }
      s.on('data', on)
      s.write(frame)
    })
    samples.push(now() - t)
    if (c.gapMs) await new Promise((r) => setTimeout(r, c.gapMs as number))
  }
  s.destroy()
  reply({ op: 'latencies', samples })
}

process.on('message', (c: Cmd) => {
  const run = async () => {
    switch (c.op) {
      case 'startChannel':
        return startChannel(c)
      case 'expect':
        counted = 0
        expect = c.count as number
        oneWay = []
        return reply({ op: 'expecting' })
      case 'oneWay':
        return reply({ op: 'oneWay', samples: oneWay })
      case 'load':
        return load(c)
      case 'latency':
        return latency(c)
      case 'rawServer':
        return rawServer(c)
      case 'rawLoad':
        return rawLoad(c)
      case 'rawPing':
        return rawPing(c)
      case 'stats':
        return reply({ op: 'stats', stats: channel?.stats() })
      case 'exit':
        await channel?.stop()
        process.exit(0)
    }
  }
  run().catch((err) => {
    reply({ op: 'error', error: String(err?.stack ?? err) })
  })
})
reply({ op: 'up' })
