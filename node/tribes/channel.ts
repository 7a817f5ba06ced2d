/**
 * The Channel: membership, transport and the interceptor stack put together (Tribes' GroupChannel).
 */
import { EventEmitter } from 'node:events'
import os from 'node:os'
import pino, { type Logger } from 'pino'
import type {
  Channel,
  ChannelListener,
  ChannelStats,
  MemberDetails,
  ReceivedMessage,
} from './channel-types.ts'
import { decode, encode, encodePlain } from './codec.ts'
import { asCatteryError, CatteryError, codes } from './errors.ts'
import type { IncomingMessage, Interceptor, InterceptorContext, Link } from './interceptor.ts'
import { createInterceptor } from './interceptors/index.ts'
import { createLocalMember, describeMember, type Member, memberId, toWire } from './member.ts'
import { createMembership } from './membership/index.ts'
import type { MembershipService } from './membership/service.ts'
import {
  type ChannelOptions,
  defaults,
  type MembershipOptions,
  type ReceiverOptions,
  type SenderOptions,
} from './options.ts'
import { type ChannelSecurity, createChannelSecurity } from './security/channel-security.ts'
import { SendOption, wantsSyncAck } from './send-options.ts'
import { probe } from './transport/probe.ts'
import { Transport } from './transport/transport.ts'

export type ChannelInit = Partial<Omit<ChannelOptions, 'receiver' | 'sender' | 'membership'>> & {
  receiver?: Partial<ReceiverOptions>
  sender?: Partial<SenderOptions>
  membership: MembershipOptions
}

/** How long a member's messages are accepted after it left the view (see GroupChannel's #left). */
const LEFT_GRACE_MS = 5_000

export function createChannel(init: ChannelInit): Channel {
  return new GroupChannel(init)
}

class GroupChannel extends EventEmitter implements Channel {
  readonly #options: ChannelOptions
  readonly #logger: Logger
  readonly #interceptors: Interceptor[]
  readonly #listeners = new Set<ChannelListener>()
  readonly #view = new Map<string, Member>()
  #viewVersion = 0
  /** When each member of the view entered it. */
  readonly #since = new Map<string, number>()
  /**
   * Members that left the view, and when: their last messages are still accepted for LEFT_GRACE_MS.
   * A stopping member writes its last replication on its connection and says goodbye on another;
   * the goodbye may be read first, and those messages must not be refused as a stranger's.
   */
  readonly #left = new Map<string, number>()
  readonly #security: ChannelSecurity
  #transport: Transport | undefined
  #membership: MembershipService | undefined
  #local: Member | undefined
  #wire: Buffer | undefined
  #down!: Link
  #up!: Link
  #started = false

  constructor(init: ChannelInit) {
    super()
    this.#options = {
      name: init.name ?? os.hostname(),
      domain: init.domain ?? '',
      payload: init.payload ?? new Uint8Array(0),
      receiver: { ...defaults.receiver, ...init.receiver },
      sender: { ...defaults.sender, ...init.sender },
      membership: init.membership,
      interceptors: init.interceptors ?? [...defaults.interceptors],
      sendOptions: init.sendOptions ?? defaults.sendOptions,
      security: init.security,
    }
    this.#logger = init.logger ?? pino({ level: 'silent' })
    // Decided here, so a reachable channel without a secret (or with a short one) fails before start.
    this.#security = createChannelSecurity(init.security, this.#options.receiver.host, init.membership.type)
    // Built here, so a bad interceptor configuration (e.g. an unreadable key) fails before start.
    this.#interceptors = this.#options.interceptors.map((c) => createInterceptor(c))
  }

  get localMember(): Member {
    if (!this.#local) throw new CatteryError(codes.CHANNEL_NOT_STARTED, 'the channel is not started')
    return this.#local
  }

  get started(): boolean {
    return this.#started
  }

  get asyncWriteInterval(): number {
    return this.#options.sender.asyncWriteInterval
  }

  get maxFrameBytes(): number {
    return this.#options.receiver.maxFrameBytes
  }

  async start(): Promise<void> {
    if (this.#started) return
    const o = this.#options
    const transport = new Transport(
      o.receiver,
      o.sender,
      {
        message: (m) => this.#up.messageReceived(m),
        suspect: (m, cause) => this.#up.memberSuspect(this.#view.get(memberId(m)) ?? m, cause),
        bye: (m) => this.#membership?.departed(m),
        pinged: (m) => this.#membership?.heard?.(m),
        admission: (m) => this.#membership?.admission?.(m),
        localWire: () => this.#localWire(),
        knows: (m) => this.#knows(m),
      },
      this.#logger,
      this.#security,
    )
    if (this.#security.mode === 'insecure') {
      this.#logger.warn(
        { security: 'insecure', code: codes.INSECURE_CHANNEL },
        'the cluster channel runs WITHOUT authentication or encryption (--insecure-cluster): anyone who reaches the receiver or the multicast group can read and change sessions',
      )
    }
    const port = await transport.start()
    try {
      this.#local = createLocalMember({
        uniqueId: this.#security.localId,
        host: o.receiver.advertiseAddress || announcedHost(o.receiver.host),
        port,
        name: o.name,
        domain: o.domain,
        ...(o.payload ? { payload: o.payload } : {}),
      })
      this.#transport = transport
      this.#link()
      const ctx = this.#context()
      for (const i of this.#interceptors) i.init(ctx)
      for (const i of this.#interceptors) await i.start()
      const membership = createMembership(o.membership, this.#logger, this.#security)
      membership.on('memberAdded', (m: Member) => this.#up.memberAdded(m))
      membership.on('memberDisappeared', (m: Member, reason: string) => this.#up.memberDisappeared(m, reason))
      membership.on('memberSuspect', (m: Member, cause: CatteryError) => this.#up.memberSuspect(m, cause))
      this.#membership = membership
      this.#started = true
      await membership.start(this.#local)
    } catch (err) {
      this.#started = false
      await transport.stop()
      throw err
    }
    this.#logger.info(
      {
        member: { name: o.name, host: this.#local.host, port },
        membership: o.membership.type,
        security: this.#security.mode,
        secretKeyIds: this.#security.keyIds(),
      },
      'channel started',
    )
  }

  async stop(): Promise<void> {
    if (!this.#started) return
    this.#started = false
    // Queued asynchronous messages go out first, then the departure is announced, then sockets close.
    for (const i of this.#interceptors) await i.stop()
    await this.#membership?.stop()
    await this.#transport?.stop()
    this.#view.clear()
    this.#viewVersion++
    this.#since.clear()
  }

  members(): Member[] {
    return [...this.#view.values()]
  }

  get viewVersion(): number {
    return this.#viewVersion
  }

  memberDetails(): MemberDetails[] {
    return this.members().map((member) => {
      let queued = 0
      let queuedBytes = 0
      for (const i of this.#interceptors) {
        const s = i.memberStats(member)
        queued += s.queued ?? 0
        queuedBytes += s.queuedBytes ?? 0
      }
      return {
        member,
        since: this.#since.get(memberId(member)) ?? Date.now(),
        lastHeard: this.#membership?.lastHeard(member),
        queued,
        queuedBytes,
      }
    })
  }

  send(to: Member | Member[], payload: unknown, options = this.#options.sendOptions): Promise<void> {
    let body: Uint8Array
    try {
      // BYTE_MESSAGE (1), as in Tribes: the payload is bytes and travels as they are, not encoded.
      if (options & SendOption.BYTE_MESSAGE) {
        if (!(payload instanceof Uint8Array))
          throw new Error('a BYTE_MESSAGE (send option 1) carries a Uint8Array')
        body = payload
      } else body = encode(payload)
    } catch (err) {
      return Promise.reject(
        new CatteryError(codes.ENCODE_FAILED, `payload cannot be encoded: ${(err as Error).message}`, {
          cause: err,
        }),
      )
    }
    return this.sendEncoded(to, body, options)
  }

  sendEncoded(to: Member | Member[], body: Uint8Array, options = this.#options.sendOptions): Promise<void> {
    if (!this.#started) {
      return Promise.reject(
        new CatteryError(codes.CHANNEL_NOT_STARTED, 'send on a channel that is not started'),
      )
    }
    const dest = Array.isArray(to) ? to : [to]
    if (dest.length === 0) return Promise.resolve()
    return this.#down.sendMessage(dest, { options, header: {}, body })
  }

  addChannelListener(listener: ChannelListener): void {
    this.#listeners.add(listener)
  }

  removeChannelListener(listener: ChannelListener): void {
    this.#listeners.delete(listener)
  }

  setReady(ready: boolean): void {
    if (!this.#local || this.#local.ready === ready) return
    this.#local.ready = ready
    this.#wire = undefined
    this.#membership?.localChanged()
  }

  stats(): ChannelStats {
    const t = this.#transport?.counters
    const interceptors: Record<string, Record<string, number>> = {}
    for (const i of this.#interceptors) interceptors[i.name] = i.stats()
    return {
      messagesSent: t?.messagesSent ?? 0,
      messagesReceived: t?.messagesReceived ?? 0,
      bytesSent: t?.bytesSent ?? 0,
      bytesReceived: t?.bytesReceived ?? 0,
      sendFailures: t?.sendFailures ?? 0,
      framesRefused: { ...this.#security.refused },
      security: this.#security.mode,
      ...(this.#security.keys ? { secretKeyIds: this.#security.keyIds() } : {}),
      interceptors,
    }
  }

  #localWire(): Buffer {
    this.#wire ??= encodePlain(toWire(this.localMember))
    return this.#wire
  }

  /** Wires the stack: head interceptor .. tail interceptor, with the transport below and us above. */
  #link(): void {
    const transport = this.#transport as Transport
    const bottom: Link = {
      sendMessage: (to, m) => transport.send(to, m),
      messageReceived: () => {},
      memberAdded: () => {},
      memberDisappeared: () => {},
      memberSuspect: () => {},
    }
    const top: Link = {
      sendMessage: () => Promise.reject(new Error('nothing is above the channel')),
      messageReceived: (m) => this.#deliver(m),
      memberAdded: (m) => this.#added(m),
      memberDisappeared: (m, reason) => this.#disappeared(m, reason),
      memberSuspect: (m, cause) =>
        this.#logger.debug(
          { member: describeMember(m), code: cause.code },
          'member suspected; no failure detector',
        ),
    }
    const stack = this.#interceptors
    stack.forEach((i, n) => {
      i.previous = stack[n - 1] ?? top
      i.next = stack[n + 1] ?? bottom
    })
    this.#down = stack[0] ?? bottom
    this.#up = stack.at(-1) ?? top
  }

  #context(): InterceptorContext {
    return {
      localMember: this.localMember,
      logger: this.#logger,
      members: () => this.members(),
      probe: (m, timeout) => probe(m, timeout, this.#localWire(), this.#security),
      removeMember: (m, reason) => {
        const id = memberId(m)
        if (this.#membership?.members().some((x) => memberId(x) === id)) this.#membership.remove(m, reason)
        else this.#up.memberDisappeared(m, reason)
      },
      asyncFailure: (err) => {
        this.#logger.debug({ code: err.code, err: err.message }, 'asynchronous send failed')
        if (this.listenerCount('sendError')) this.emit('sendError', err)
      },
    }
  }

  #added(m: Member): void {
    const id = memberId(m)
    if (!this.#started || this.#view.has(id)) return
    this.#view.set(id, m)
    this.#viewVersion++
    this.#since.set(id, Date.now())
    this.#transport?.warm(m)
    this.emit('memberAdded', m)
  }

  /** In the view, or left it less than LEFT_GRACE_MS ago (see #left). */
  #knows(m: Member): boolean {
    const id = memberId(m)
    if (this.#view.has(id)) return true
    const at = this.#left.get(id)
    return at !== undefined && Date.now() - at < LEFT_GRACE_MS
  }

  #disappeared(m: Member, reason: string): void {
    const id = memberId(m)
    const known = this.#view.get(id)
    if (!known) return
    this.#view.delete(id)
    this.#viewVersion++
    this.#since.delete(id)
    const now = Date.now()
    for (const [left, at] of this.#left) if (now - at >= LEFT_GRACE_MS) this.#left.delete(left)
    this.#left.set(id, now)
    for (const i of this.#interceptors) i.memberLeft(known, reason)
    this.#transport?.forget(known)
    this.emit('memberDisappeared', known, reason)
  }

  #deliver(m: IncomingMessage): void {
    let payload: unknown
    try {
      payload = m.options & SendOption.BYTE_MESSAGE ? m.body : decode(m.body)
    } catch (err) {
      const e = asCatteryError(err, codes.DECODE_FAILED)
      this.#logger.warn({ code: e.code, from: describeMember(m.from), err: e.message }, 'message refused')
      m.done(e)
      return
    }
    const received: ReceivedMessage = {
      from: this.#view.get(memberId(m.from)) ?? m.from,
      options: m.options,
      payload,
    }
    const pending: Promise<void>[] = []
    for (const l of this.#listeners) {
      try {
        if (l.accept && !l.accept(received)) continue
        const r = l.messageReceived(received)
        if (r && typeof (r as Promise<void>).then === 'function') pending.push(r as Promise<void>)
      } catch (err) {
        this.#listenerFailed(m, err)
        return
      }
    }
    if (pending.length === 0) m.done()
    else if (!wantsSyncAck(m.options)) {
      Promise.all(pending).catch((err) => this.#listenerFailed(m, err))
      m.done()
    } else
      Promise.all(pending).then(
        () => m.done(),
        (err) => this.#listenerFailed(m, err),
      )
  }

  /**
   * A listener's refusal with a code of its own (a CatteryError) goes back to the sender as it is and
   * is logged by whoever refused; anything else is a listener's failure, wrapped and logged here.
   */
  #listenerFailed(m: IncomingMessage, err: unknown): void {
    if (err instanceof CatteryError) {
      m.done(err)
      return
    }
    const e = new CatteryError(codes.LISTENER_FAILED, `listener failed: ${(err as Error)?.message ?? err}`, {
      cause: err,
    })
    this.#logger.error({ code: e.code, from: describeMember(m.from), err }, 'channel listener failed')
    m.done(e)
  }
}

/** The address peers should use: a wildcard bind announces the first external IPv4 address. */
function announcedHost(host: string): string {
  if (host !== '0.0.0.0' && host !== '::') return host
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  }
  return '127.0.0.1'
}
