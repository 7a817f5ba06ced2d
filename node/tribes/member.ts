import { randomBytes } from 'node:crypto'

/**
 * A cluster member as every node sees it. `uniqueId` (16 random bytes, new at every start) is the
 * identity: a member restarted on the same address is a different member. `startTime` lets a joiner
 * pick the longest-running member; `ready` says it holds the cluster's state.
 */
export interface Member {
  readonly host: string
  readonly port: number
  readonly uniqueId: Uint8Array
  readonly name: string
  readonly domain: string
  readonly payload: Uint8Array
  readonly startTime: number
  ready: boolean
}

/** The wire form of a member (msgpackr-encoded inside handshakes, pongs and heartbeats). */
export interface MemberWire {
  h: string
  p: number
  u: Uint8Array
  n: string
  d: string
  y: Uint8Array
  s: number
  r: boolean
}

export function createLocalMember(init: {
  host: string
  port: number
  name: string
  domain?: string
  payload?: Uint8Array
  /** Chosen ahead when the channel's handshakes need it before the member exists. */
  uniqueId?: Uint8Array
}): Member {
  return {
    host: init.host,
    port: init.port,
    uniqueId: init.uniqueId ?? randomBytes(16),
    name: init.name,
    domain: init.domain ?? '',
    payload: init.payload ?? new Uint8Array(0),
    startTime: Date.now(),
    ready: false,
  }
}

const ids = new WeakMap<Uint8Array, string>()
/** The uniqueId as hex: the key members are known by (cached: it is asked for on every send). */
export function memberId(m: Pick<Member, 'uniqueId'>): string {
  let id = ids.get(m.uniqueId)
  if (id === undefined) {
    id = Buffer.from(m.uniqueId).toString('hex')
    ids.set(m.uniqueId, id)
  }
  return id
}
export const addressOf = (m: Pick<Member, 'host' | 'port'>): string => `${m.host}:${m.port}`
export const describeMember = (m: Member): string => `${m.name || '?'}@${m.host}:${m.port}`

export function toWire(m: Member): MemberWire {
  return {
    h: m.host,
    p: m.port,
    u: m.uniqueId,
    n: m.name,
    d: m.domain,
    y: m.payload,
    s: m.startTime,
    r: m.ready,
  }
}

/** Validates a decoded wire member; returns undefined when it is not one (hostile or foreign data). */
export function fromWire(w: unknown): Member | undefined {
  if (typeof w !== 'object' || w === null) return undefined
  const o = w as Record<string, unknown>
  if (typeof o.h !== 'string' || typeof o.p !== 'number' || !(o.u instanceof Uint8Array) || o.u.length !== 16)
    return undefined
  if (!Number.isInteger(o.p) || o.p < 1 || o.p > 65535) return undefined
  return {
    host: o.h,
    port: o.p,
    uniqueId: Uint8Array.from(o.u),
    name: typeof o.n === 'string' ? o.n : '',
    domain: typeof o.d === 'string' ? o.d : '',
    payload: o.y instanceof Uint8Array ? Uint8Array.from(o.y) : new Uint8Array(0),
    startTime: typeof o.s === 'number' ? o.s : 0,
    ready: o.r === true,
  }
}

/** Parses 'host:port' (IPv6 as '[::1]:4000'). */
export function parseAddress(value: string): { host: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(value) ?? /^([^:]+):(\d+)$/.exec(value)
  if (!m) return undefined
  const port = Number(m[2])
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined
  return { host: m[1] as string, port }
}
