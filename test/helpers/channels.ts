/** In-process channels on real loopback sockets, for tests of send semantics. */
import { Writable } from 'node:stream'
import pino from 'pino'
import { type ChannelInit, createChannel } from '../../node/tribes/channel.ts'
import type { Channel } from '../../node/tribes/channel-types.ts'
import type { Member } from '../../node/tribes/member.ts'
import { freePorts } from './node-process.ts'

export interface TestChannel {
  channel: Channel
  logs: Array<Record<string, unknown>>
}

/** A pino logger that keeps its lines in memory. */
export function memoryLogger(level = 'info') {
  const logs: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line))
      cb()
    },
  })
  return { logger: pino({ level }, stream), logs }
}

/** Starts `n` channels that list each other statically and waits until each sees all others. */
export async function startChannels(
  n: number,
  init: Partial<ChannelInit> = {},
  perChannel: (i: number) => Partial<ChannelInit> = () => ({}),
): Promise<TestChannel[]> {
  const ports = await freePorts(n)
  const members = ports.map((p) => `127.0.0.1:${p}`)
  const out = ports.map((port, i) => {
    const { logger, logs } = memoryLogger()
    const own = perChannel(i)
    const channel = createChannel({
      name: `c${i + 1}`,
      logger,
      membership: { type: 'static', members, pingInterval: 500, expireTime: 3000 },
      ...init,
      ...own,
      receiver: { host: '127.0.0.1', ...init.receiver, ...own.receiver, port, autoBind: 1 },
    })
    return { channel, logs }
  })
  await Promise.all(out.map((c) => c.channel.start()))
  await Promise.all(out.map((c) => waitForMembers(c.channel, n - 1)))
  return out
}

export async function waitForMembers(channel: Channel, count: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (channel.members().length !== count) {
    if (Date.now() > deadline)
      throw new Error(`channel sees ${channel.members().length} members, wanted ${count}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

export function memberNamed(channel: Channel, name: string): Member {
  const m = channel.members().find((x) => x.name === name)
  if (!m) throw new Error(`${channel.localMember.name} does not see ${name}`)
  return m
}

export async function stopChannels(list: TestChannel[]): Promise<void> {
  await Promise.all(list.map((c) => c.channel.stop()))
}
