/**
 * Tomcat's DeltaManager: every member holds every session of the context. A session's creation is
 * sent at once, each request's changes at its end (as a delta), expiry and invalidation as they
 * happen, and an 'accessed' note keeps a session that is only read alive elsewhere. A joining member
 * first receives all sessions (state transfer) and is ready only then.
 *
 * Versions, not clocks, decide what is newer: a change carries the session's version after it; a
 * replica applies it only when it is the next one, holds it when an earlier change has not arrived
 * yet (for up to holdTimeout), and drops it when it already has it.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Channel } from '../tribes/channel-types.ts'
import type { CatteryError } from '../tribes/errors.ts'
import { describeMember, type Member, memberId } from '../tribes/member.ts'
import { isAsync, SendOption } from '../tribes/send-options.ts'
import { BaseManager, type ManagerOptions, type ManagerStats } from './manager.ts'
import { SESSION_MESSAGE, type SessionMessage, type SessionMessageType } from './messages.ts'
import { ReplicationBatch } from './replication-batch.ts'
import type { Session, SessionData } from './session.ts'
import { keyOf } from './store.ts'

export interface DeltaManagerOptions extends ManagerOptions {
  channel: Channel
  /** Tribes send options for replication (8: asynchronous). */
  sendOptions: number
  expireSessionsOnShutdown: boolean
  notifyListenersOnReplication: boolean
  /** Seconds a joining member spends on state transfer, over all donors, before it starts anyway. */
  stateTransferTimeout: number
  /** Sessions per state-transfer page. */
  sendAllSessionsSize: number
}

/** A change waiting for the change before it. */
interface Held {
  message: SessionMessage & { id: string }
  from: Member
  at: number
}

/** The messages a replication batch carries (see replication-batch.ts). */
const BATCHABLE = new Set<SessionMessageType>(['created', 'delta', 'expired', 'accessed', 'change-id'])
const HOLD_TIMEOUT_MS = 3000
const MAX_HELD = 100_000
const MAX_TOMBSTONES = 100_000
/** A donor that sends nothing for this long is given up for the next one. */
const PAGE_TIMEOUT_MS = 10_000

type Counts = Record<SessionMessageType, number>
const zero = (): Counts => ({
  created: 0,
  delta: 0,
  expired: 0,
  accessed: 0,
  'change-id': 0,
  'get-all': 0,
  'all-data': 0,
  'transfer-complete': 0,
  'no-context-manager': 0,
  batch: 0,
})

export class DeltaManager extends BaseManager {
  readonly kind = 'delta' as const
  readonly #o: DeltaManagerOptions
  #ready = false
  readonly #held = new Map<string, Held[]>()
  #heldCount = 0
  /** Sessions known to be gone, so a late change does not bring one back. */
  readonly #tombstones = new Map<string, number>()
  #transfer: { id: number; donor: string; lastProgress: number; done(ok: boolean): void } | undefined
  #transferIds = Math.floor(Math.random() * 1e9)
  #sweep: NodeJS.Timeout | undefined
  /** Asynchronous messages waiting to leave together (unused with synchronous send options). */
  readonly #batch: ReplicationBatch
  readonly sent: Counts = zero()
  readonly received: Counts = zero()
  readonly replication = {
    sendFailures: 0,
    droppedDuplicates: 0,
    heldDropped: 0,
    transferMs: 0,
    transferredSessions: 0,
  }

  constructor(options: DeltaManagerOptions) {
    super(options)
    this.#o = options
    this.#batch = new ReplicationBatch(
      this.contextPath,
      {
        send: (m) => void this.#sendNow(m),
        sendEncoded: (body) => {
          const members = this.#o.channel.members()
          if (members.length === 0) return
          this.sent.batch++
          void this.#reported(this.#o.channel.sendEncoded(members, body, this.#o.sendOptions), 'batch')
        },
      },
      // Paced as the channel's writes, so that under load one batch is one write.
      options.channel.asyncWriteInterval,
    )
  }

  override get ready(): boolean {
    return this.#ready
  }

  override async start(): Promise<void> {
    await super.start()
    this.#sweep = setInterval(() => this.#sweepHeld(false), 500)
    this.#sweep.unref()
    await this.#stateTransfer()
  }

  override async stop(): Promise<void> {
    if (this.#o.expireSessionsOnShutdown)
      for (const s of [...this.store.values()]) this.expire(s, 'local', 'shutdown')
    this.#batch.flush()
    clearInterval(this.#sweep)
    await super.stop()
  }

  override stats(): ManagerStats {
    return { ...super.stats(), ...this.replication, held: this.#heldCount }
  }

  /** Called by the cluster for every session message of this context. */
  receive(m: SessionMessage, from: Member): Promise<void> | undefined {
    this.received[m.type]++
    switch (m.type) {
      case 'created':
        this.#applySnapshot(m.session, from)
        return
      case 'delta':
      case 'change-id':
        if (!wellFormedChange(m)) throw new Error(`malformed ${m.type} message for session ${String(m.id)}`)
        this.#applyChange(m, from, false)
        return
      case 'expired': {
        this.#tombstone(m.id)
        const s = this.store.get(m.id)
        if (s) this.expire(s, 'replication', 'expired')
        this.#dropHeld(m.id)
        return
      }
      case 'accessed': {
        const s = this.store.get(m.id)
        if (s && m.a > s.lastAccessedTime) s.lastAccessedTime = m.a
        return
      }
      case 'get-all':
        return this.#sendAll(from, m.transfer)
      case 'all-data':
        if (this.#transfer?.id !== m.transfer) return
        this.#transfer.lastProgress = Date.now()
        for (const d of m.sessions) this.#applySnapshot(d, from)
        this.replication.transferredSessions += m.sessions.length
        return
      case 'transfer-complete':
      case 'no-context-manager':
        if (this.#transfer?.id === m.transfer) this.#transfer.done(true)
        return
      case 'batch':
        this.#receiveBatch(m.messages, from)
        return
    }
  }

  #receiveBatch(messages: unknown[], from: Member): void {
    if (!Array.isArray(messages)) throw new Error('malformed batch message: no list of messages')
    for (const m of messages) {
      // Only what a batch may carry: this context's asynchronous changes (k and ctx are the batch's).
      const type = typeof m === 'object' && m !== null ? (m as { type?: unknown }).type : undefined
      try {
        if (!BATCHABLE.has(type as SessionMessageType)) throw new Error(`not a batchable message: ${type}`)
        this.receive(m as SessionMessage, from)
      } catch (err) {
        // One bad message costs only itself: the rest of the batch is still applied.
        this.logger.warn(
          { from: describeMember(from), err: (err as Error).message },
          'ignoring a malformed message in a replication batch',
        )
      }
    }
  }

  override async requestCompleted(session: Session, replicate: boolean): Promise<void> {
    if (!session.valid) return
    session.primary = true
    session.noticeInPlaceChanges()
    const actions = session.delta.drain()
    if (!replicate) return
    if (actions.length) {
      session.version++
      await this.#send({
        k: SESSION_MESSAGE,
        type: 'delta',
        ctx: this.contextPath,
        id: session.id,
        v: session.version,
        a: session.lastAccessedTime,
        actions,
      })
      session.lastReplicated = Date.now()
      return
    }
    // Only read: tell the others now and then, so it does not expire there (Tomcat's accessed message).
    const every = Math.min(60_000, Math.max(1000, (session.maxInactiveInterval * 1000) / 4))
    if (Date.now() - session.lastReplicated > every) {
      session.lastReplicated = Date.now()
      await this.#send({
        k: SESSION_MESSAGE,
        type: 'accessed',
        ctx: this.contextPath,
        id: session.id,
        a: session.lastAccessedTime,
      })
    }
  }

  override async changeSessionId(session: Session, newId: string): Promise<void> {
    const old = session.id
    await super.changeSessionId(session, newId)
    session.version++
    await this.#send({
      k: SESSION_MESSAGE,
      type: 'change-id',
      ctx: this.contextPath,
      id: old,
      newId,
      v: session.version,
    })
  }

  protected override onCreated(session: Session): void {
    session.lastReplicated = Date.now()
    void this.#send({ k: SESSION_MESSAGE, type: 'created', ctx: this.contextPath, session: session.toData() })
  }

  protected override onExpired(session: Session, reason: string): void {
    this.#tombstone(session.id)
    // Every member expires idle sessions by itself; only the one that served it last says so, to
    // spare the cluster n copies of the same message. An invalidation is always announced.
    if (reason === 'expired' && !session.primary) return
    void this.#send({ k: SESSION_MESSAGE, type: 'expired', ctx: this.contextPath, id: session.id })
  }

  async #send(message: SessionMessage): Promise<void> {
    if (this.#o.channel.members().length === 0) return
    this.sent[message.type]++
    if (isAsync(this.#o.sendOptions)) {
      this.#batch.add(message)
      return
    }
    await this.#sendNow(message)
  }

  #sendNow(message: SessionMessage): Promise<void> {
    const members = this.#o.channel.members()
    if (members.length === 0) return Promise.resolve()
    return this.#reported(this.#o.channel.send(members, message, this.#o.sendOptions), message.type)
  }

  /** A failed replication is counted and logged, never thrown at the request that caused it. */
  #reported(sent: Promise<void>, type: SessionMessageType): Promise<void> {
    return sent.catch((err) => {
      this.replication.sendFailures++
      this.logger.warn(
        { code: (err as CatteryError).code, err: (err as Error).message, type },
        'replication failed',
      )
    })
  }

  // --- applying replicated state -------------------------------------------------------------

  #applySnapshot(d: SessionData, from: Member): void {
    if (this.#tombstones.has(keyOf(d.id))) return
    const have = this.store.get(d.id)
    if (have && have.version >= d.version) {
      this.replication.droppedDuplicates++
      return
    }
    if (have) this.store.delete(d.id)
    const s = this.restore(d)
    if (!have && this.#o.notifyListenersOnReplication) this.emit('sessionCreated', s, 'replication')
    this.#flushHeld(d.id, from)
  }

  #applyChange(m: SessionMessage & { type: 'delta' | 'change-id' }, from: Member, force: boolean): void {
    const s = this.store.get(m.id)
    if (!s) {
      if (this.#tombstones.has(keyOf(m.id))) return
      if (m.type === 'change-id' && this.store.has(m.newId)) return
      this.#hold(m, from)
      return
    }
    if (m.v <= s.version) {
      this.replication.droppedDuplicates++
      return
    }
    if (m.v > s.version + 1 && !force) {
      this.#hold(m, from)
      return
    }
    s.version = m.v
    s.primary = false
    if (m.type === 'change-id') {
      this.store.delete(m.id)
      s.id = m.newId
      this.add(s)
      this.#moveHeld(m.id, m.newId)
    } else {
      if (m.a > s.lastAccessedTime) s.lastAccessedTime = m.a
      for (const a of m.actions) {
        if (a[0] === 'set') s.applySet(a[1], a[2])
        else if (a[0] === 'remove') s.applyRemove(a[1])
        else if (a[0] === 'maxInactive') s.maxInactiveInterval = a[1]
        else if (a[0] === 'principal') {
          s.principal = a[1]
          s.authType = a[2]
        }
        if (this.#o.notifyListenersOnReplication && (a[0] === 'set' || a[0] === 'remove')) {
          this.emit('attributeChanged', s, a[1], 'replication')
        }
      }
    }
    this.#flushHeld(s.id, from)
  }

  #hold(m: SessionMessage & { id: string }, from: Member): void {
    if (this.#heldCount >= MAX_HELD) {
      this.replication.heldDropped++
      this.logger.warn({ id: m.id, type: m.type }, 'too many out-of-order changes held; dropping one')
      return
    }
    const list = this.#held.get(keyOf(m.id)) ?? []
    list.push({ message: m, from, at: Date.now() })
    this.#held.set(keyOf(m.id), list)
    this.#heldCount++
  }

  #flushHeld(id: string, from: Member): void {
    const list = this.#held.get(keyOf(id))
    if (!list) return
    this.#held.delete(keyOf(id))
    this.#heldCount -= list.length
    list.sort((a, b) => (a.message as { v: number }).v - (b.message as { v: number }).v)
    for (const h of list)
      this.#applyChange(h.message as SessionMessage & { type: 'delta' | 'change-id' }, h.from ?? from, false)
  }

  #moveHeld(from: string, to: string): void {
    if (keyOf(from) === keyOf(to)) return
    const list = this.#held.get(keyOf(from))
    if (!list) return
    this.#held.delete(keyOf(from))
    this.#held.set(keyOf(to), [...(this.#held.get(keyOf(to)) ?? []), ...list])
  }

  #dropHeld(id: string): void {
    const list = this.#held.get(keyOf(id))
    if (!list) return
    this.#held.delete(keyOf(id))
    this.#heldCount -= list.length
  }

  /** Changes held too long: apply them anyway in version order; drop those whose session never came. */
  #sweepHeld(all: boolean): void {
    const limit = Date.now() - HOLD_TIMEOUT_MS
    for (const [id, list] of this.#held) {
      if (!all && (list[0]?.at ?? 0) > limit) continue
      if (!this.store.has(id)) {
        if (this.#transfer && !all) continue // the snapshot may still bring it
        this.#dropHeld(id)
        this.replication.heldDropped += list.length
        continue
      }
      this.#held.delete(id)
      this.#heldCount -= list.length
      list.sort((a, b) => (a.message as { v: number }).v - (b.message as { v: number }).v)
      for (const h of list)
        this.#applyChange(h.message as SessionMessage & { type: 'delta' | 'change-id' }, h.from, true)
    }
  }

  #tombstone(id: string): void {
    this.#tombstones.set(keyOf(id), Date.now())
    if (this.#tombstones.size > MAX_TOMBSTONES)
      this.#tombstones.delete(this.#tombstones.keys().next().value as string)
  }

  // --- state transfer ------------------------------------------------------------------------

  /** Donor side: every session, in pages, each page acknowledged before the next (bounded memory). */
  async #sendAll(to: Member, transfer: number): Promise<void> {
    // Changes made after the snapshot reach the joiner only once it is in our view: wait for that
    // (it pinged us before asking, so it is a matter of milliseconds), then take the snapshot.
    const id = memberId(to)
    for (
      let waited = 0;
      waited < 2000 && !this.#o.channel.members().some((m) => memberId(m) === id);
      waited += 10
    ) {
      await sleep(10)
    }
    const ids = [...this.store.keys()]
    const size = this.#o.sendAllSessionsSize
    let pages = 0
    try {
      for (let i = 0; i < ids.length; i += size) {
        const sessions: SessionData[] = []
        for (const id of ids.slice(i, i + size)) {
          const s = this.store.get(id)
          if (s) sessions.push(s.toData())
        }
        this.sent['all-data']++
        await this.#o.channel.send(
          to,
          { k: SESSION_MESSAGE, type: 'all-data', ctx: this.contextPath, transfer, page: pages++, sessions },
          SendOption.USE_ACK,
        )
      }
      this.sent['transfer-complete']++
      await this.#o.channel.send(
        to,
        {
          k: SESSION_MESSAGE,
          type: 'transfer-complete',
          ctx: this.contextPath,
          transfer,
          pages,
          sessions: ids.length,
        },
        SendOption.USE_ACK,
      )
      this.logger.info({ to: describeMember(to), sessions: ids.length, pages }, 'sent all sessions')
    } catch (err) {
      this.logger.warn(
        { to: describeMember(to), err: (err as Error).message },
        'state transfer to a joining member failed',
      )
    }
  }

  /** Joiner side: ask the longest-running ready member; on failure or silence, the next one. */
  async #stateTransfer(): Promise<void> {
    const started = Date.now()
    const deadline = started + this.#o.stateTransferTimeout * 1000
    const tried = new Set<string>()
    for (;;) {
      const donors = this.#o.channel
        .members()
        .filter((m) => m.ready)
        .sort((a, b) => a.startTime - b.startTime)
      const donor = donors.find((m) => !tried.has(memberId(m)))
      if (!donor) {
        // Nobody ready: this member is the first, or starts together with the others.
        if (tried.size === 0 || Date.now() > deadline) break
        tried.clear()
        await sleep(250)
        continue
      }
      tried.add(memberId(donor))
      if (await this.#transferFrom(donor, deadline)) break
      if (Date.now() > deadline) {
        this.logger.warn(
          { sessions: this.store.size, timeout: this.#o.stateTransferTimeout },
          'state transfer did not complete in time; starting with the sessions received so far',
        )
        break
      }
    }
    this.#transfer = undefined
    this.#sweepHeld(true)
    this.replication.transferMs = Date.now() - started
    this.#ready = true
    this.logger.info({ sessions: this.store.size, ms: this.replication.transferMs }, 'sessions ready')
  }

  #transferFrom(donor: Member, deadline: number): Promise<boolean> {
    const id = ++this.#transferIds
    const channel = this.#o.channel
    return new Promise<boolean>((resolve) => {
      let settled = false
      const finish = (ok: boolean) => {
        if (settled) return
        settled = true
        clearInterval(watch)
        channel.off('memberDisappeared', onGone)
        if (this.#transfer?.id === id) this.#transfer = undefined
        if (!ok)
          this.logger.warn(
            { donor: describeMember(donor) },
            'state transfer from this member failed; trying another',
          )
        resolve(ok)
      }
      const onGone = (m: Member) => {
        if (memberId(m) === memberId(donor)) finish(false)
      }
      const watch = setInterval(() => {
        const t = this.#transfer
        if (Date.now() > deadline || (t && Date.now() - t.lastProgress > PAGE_TIMEOUT_MS)) finish(false)
      }, 200)
      this.#transfer = { id, donor: memberId(donor), lastProgress: Date.now(), done: finish }
      channel.on('memberDisappeared', onGone)
      this.sent['get-all']++
      this.logger.info({ donor: describeMember(donor) }, 'asking for all sessions')
      channel
        .send(
          donor,
          { k: SESSION_MESSAGE, type: 'get-all', ctx: this.contextPath, transfer: id },
          SendOption.USE_ACK,
        )
        .catch(() => finish(false))
    })
  }
}

/** A change whose fields have the types applying it relies on (a version decides what is applied). */
function wellFormedChange(m: SessionMessage & { type: 'delta' | 'change-id' }): boolean {
  if (typeof m.id !== 'string' || !Number.isSafeInteger(m.v)) return false
  return m.type === 'delta'
    ? Array.isArray(m.actions) && m.actions.every((a) => Array.isArray(a)) && typeof m.a === 'number'
    : typeof m.newId === 'string'
}
