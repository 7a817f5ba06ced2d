/**
 * A stopping BackupManager member's departure (backup-manager.ts calls it from stop()):
 *
 * 1. **Announce** (`leaving`, synchronously acknowledged): each member takes this one out of
 *    placement at once, so none places a session on it, sends it a write, pushes it a copy or asks it
 *    for one any more.
 * 2. **Hand over** the sessions it owns to the members that own them without it (synchronously
 *    acknowledged pushes, ownership-transfer.ts), so that stopping members one at a time loses
 *    nothing.
 * 3. Meanwhile, **forward** what still reaches it (sent before the sender took the announcement in)
 *    to the owners without it, before acknowledging it, so the sender's acknowledgement of a write
 *    still means the session's owners hold it.
 */
import type { Logger } from 'pino'
import type { Channel } from '../tribes/channel-types.ts'
import { describeMember, type Member } from '../tribes/member.ts'
import type { ManagerMessage } from './cluster-manager.ts'
import { type MessageCounts, SESSION_MESSAGE, type SessionMessage } from './messages.ts'
import { PUSH_OPTIONS } from './ownership-transfer.ts'
import { PlacementView } from './placement.ts'
import { writerOf } from './rank.ts'
import { keyOf } from './store.ts'

export interface DepartureOptions {
  channel: Channel
  contextPath: string
  logger: Logger
  /** The manager's counts of sent messages, by type. */
  sent: MessageCounts
  /** 1 + backups. */
  copies: number
  /** This member's writer id. */
  self(): string
  /** The placement view now (this member in it). */
  view(): PlacementView
  /** The keys of the copies held. */
  keys(): Iterable<string>
  /** Is a copy of this session held here? */
  holds(id: string): boolean
  member(id: string): Member | undefined
  /** Pushes copies to a member; resolves with those it confirmed. */
  push(to: Member, keys: Iterable<string>): Promise<Set<string>>
}

export class Departure {
  readonly #o: DepartureOptions
  /** This member announced its departure: what still reaches it is passed on (forward). */
  #departing = false
  /** Every member acknowledged the announcement (so none should send this member a copy any more). */
  #departed = false
  readonly counters = {
    handedOver: 0,
    /** Copies and ends passed on to the owners without this member. */
    forwarded: 0,
    /** Session copies sent to this member after every member acknowledged its departure. */
    copiesAfterDeparture: 0,
  }

  constructor(options: DepartureOptions) {
    this.#o = options
  }

  get departing(): boolean {
    return this.#departing
  }

  /**
   * A stopping member hands the sessions it owns to the members that own them without it (the
   * owner that takes its place), so that stopping members one at a time loses nothing.
   */
  async handOver(): Promise<void> {
    const now = this.#o.view()
    const rest = this.#rest()
    if (rest.members.length === 0) return
    const byMember = new Map<string, string[]>()
    for (const key of this.#o.keys()) {
      const was = now.owners(key, this.#o.copies)
      if (!was.includes(this.#o.self())) continue
      for (const m of rest.owners(key, this.#o.copies)) {
        if (was.includes(m)) continue
        const list = byMember.get(m)
        if (list) list.push(key)
        else byMember.set(m, [key])
      }
    }
    await Promise.all(
      [...byMember].map(async ([id, keys]) => {
        const member = this.#o.member(id)
        if (!member) return
        const confirmed = await this.#o.push(member, keys)
        this.counters.handedOver += confirmed.size
        if (confirmed.size < keys.length)
          this.#o.logger.warn(
            { to: describeMember(member), sessions: keys.length, confirmed: confirmed.size },
            'stopping: not every session could be handed over',
          )
      }),
    )
    this.#o.logger.info(
      {
        event: 'sessions-handed-over',
        handedOver: this.counters.handedOver,
        forwarded: this.counters.forwarded,
        copiesAfterDeparture: this.counters.copiesAfterDeparture,
      },
      'stopping: sessions handed over to the members that own them without this one',
    )
  }

  /** The view without this member (a stopping member's placement). */
  #rest(): PlacementView {
    return new PlacementView(this.#o.view().members.filter((m) => m !== this.#o.self()))
  }

  /**
   * Tells every member that this one is stopping, and waits for each to acknowledge it (it took this
   * member out of placement then): only then does the hand-off start, so that no member places a
   * session on this one, sends it a write or fetches from it once its copies were handed over.
   */
  async announce(): Promise<void> {
    this.#departing = true
    const members = this.#o.channel.members()
    let failed = 0
    if (members.length > 0) {
      this.#o.sent.leaving++
      try {
        await this.#o.channel.send(
          members,
          { k: SESSION_MESSAGE, type: 'leaving', ctx: this.#o.contextPath },
          PUSH_OPTIONS,
        )
      } catch (err) {
        failed = (err as { failures?: unknown[] }).failures?.length ?? members.length
        this.#o.logger.warn(
          { err: (err as Error).message },
          'stopping: not every member acknowledged the departure',
        )
      }
    }
    this.#departed = true
    this.#o.logger.info(
      { event: 'departure-announced', members: members.length, acknowledged: members.length - failed },
      'stopping: departure announced',
    )
  }

  /**
   * A stopping member passes on what still reaches it (sent before the sender took its departure in)
   * to the owners without it, other than the sender: the copy of each session changed or created,
   * and an id change or end as such. Resolves once they acknowledged it, so the sender's
   * acknowledgement of the write means the owners hold it.
   */
  forward(m: ManagerMessage, from: Member): Promise<void> | undefined {
    const copies = new Map<string, Set<string>>()
    const messages: SessionMessage[] = []
    const sender = writerOf(from)
    const rest = this.#rest()
    const owners = (key: string) => rest.owners(key, this.#o.copies).filter((o) => o !== sender)
    const copy = (id: unknown) => {
      if (typeof id !== 'string' || !this.#o.holds(id)) return
      const key = keyOf(id)
      for (const o of owners(key)) {
        const set = copies.get(o) ?? new Set<string>()
        copies.set(o, set)
        set.add(key)
      }
    }
    const visit = (x: unknown) => {
      const msg = x as SessionMessage
      switch (msg?.type) {
        case 'created':
          if (this.#departed) this.counters.copiesAfterDeparture++
          copy(msg.session?.id)
          break
        case 'backup':
          if (Array.isArray(msg.sessions))
            for (const d of msg.sessions) {
              if (this.#departed) this.counters.copiesAfterDeparture++
              copy((d as { id?: unknown } | null)?.id)
            }
          break
        case 'delta':
          copy(msg.id)
          break
        case 'change-id':
          copy(msg.newId)
          if (typeof msg.id === 'string')
            messages.push({ ...msg, k: SESSION_MESSAGE, ctx: this.#o.contextPath })
          break
        case 'expired':
          if (typeof msg.id === 'string')
            messages.push({ k: SESSION_MESSAGE, type: 'expired', ctx: this.#o.contextPath, id: msg.id })
          break
        case 'batch':
          if (Array.isArray(msg.messages)) for (const inner of msg.messages) visit(inner)
          break
      }
    }
    visit(m)
    const sends: Promise<unknown>[] = []
    for (const [id, keys] of copies) {
      const member = this.#o.member(id)
      if (!member) continue
      this.counters.forwarded += keys.size
      sends.push(this.#o.push(member, keys))
    }
    for (const msg of messages) {
      const to: Member[] = []
      for (const o of owners(keyOf((msg as { id: string }).id))) {
        const member = this.#o.member(o)
        if (member) to.push(member)
      }
      if (to.length === 0) continue
      this.counters.forwarded++
      this.#o.sent[msg.type]++
      sends.push(this.#o.channel.send(to, msg, PUSH_OPTIONS).catch(() => undefined))
    }
    return sends.length > 0 ? Promise.all(sends).then(() => undefined) : undefined
  }
}
