/**
 * The map members of a BackupManager context (Tomcat's AbstractReplicatedMap keeps its map members
 * so): the members of the channel view that have this context started. Placement (backup-manager.ts)
 * is over them only, so a session's copies go only to members that have the application deployed, as
 * in Tomcat — not to a member without it, which would hold nothing.
 *
 * - **Start**: before its state transfer asks donors, this member announces itself to every member
 *   (`map-member`, `present: true, ask: true`, synchronously acknowledged); a member whose
 *   BackupManager for the context runs records it and answers with its own presence, to it only. A
 *   member that joined the channel before its context started is learned when it starts the context:
 *   it announces itself then.
 * - **A member that appears** in the view is announced to the same way (its context may run, and it
 *   may not have known this member when this one announced).
 * - **Stop**: `present: false` to every member. **A member that leaves the view** leaves the map.
 * - An announcement or answer that was not delivered (the receiver did not know this member yet, a
 *   connection broke) is sent again, as an announcement, at the next `retry()` (the manager's tick)
 *   while the member is in the view.
 * A member without the context acknowledges an announcement and does nothing (node/cluster/cluster.ts),
 * so it is never recorded.
 *
 * Bounds: at most one entry per member of the view (a notice from a member not in the view is
 * ignored; one that leaves the view is forgotten); one notice per member per start, stop, view change
 * and failed delivery, none in answer to an answer.
 */
import type { Logger } from 'pino'
import type { Channel } from '../tribes/channel-types.ts'
import { CatteryError } from '../tribes/errors.ts'
import { describeMember, type Member, memberId } from '../tribes/member.ts'
import { sessionCodes } from './errors.ts'
import { type MapMemberMessage, type MessageCounts, SESSION_MESSAGE } from './messages.ts'
import { PUSH_OPTIONS } from './ownership-transfer.ts'
import { writerOf } from './rank.ts'

export interface MapMembersOptions {
  channel: Channel
  contextPath: string
  logger: Logger
  /** The manager's counts of messages sent and received, by type. */
  sent: MessageCounts
  received: MessageCounts
  /** Does this member's context run (so that it announces itself to a new member and answers)? */
  running(): boolean
  /** Member `id` (writer id) entered (`present`) or left the map. */
  changed(id: string, present: boolean): void
}

export class MapMembers {
  readonly #o: MapMembersOptions
  /** Writer ids of the members whose context runs (this member not among them). */
  readonly #members = new Set<string>()
  #version = 0
  /** Members (by member id) a notice of presence did not reach: announced to again by retry(). */
  readonly #undelivered = new Map<string, Member>()
  #retrying = false
  #listening = false
  readonly counters = { mapNoticesFailed: 0, mapNoticesRefused: 0 }

  constructor(options: MapMembersOptions) {
    this.#o = options
  }

  /** Counts the changes of the map (part of the placement view's cache key). */
  get version(): number {
    return this.#version
  }

  get size(): number {
    return this.#members.size
  }

  has(id: string): boolean {
    return this.#members.has(id)
  }

  /** Announces this member to every member of the view; resolves once each acknowledged (or failed). */
  async start(): Promise<void> {
    if (!this.#listening) {
      this.#listening = true
      this.#o.channel.on('memberAdded', this.#onAdded)
      this.#o.channel.on('memberDisappeared', this.#onGone)
    }
    await this.#announce(this.#o.channel.members(), true, true)
  }

  /** Tells every member of the view that this member's context stopped. */
  async stop(): Promise<void> {
    if (this.#listening) {
      this.#listening = false
      this.#o.channel.off('memberAdded', this.#onAdded)
      this.#o.channel.off('memberDisappeared', this.#onGone)
    }
    this.#undelivered.clear()
    if (this.#o.channel.started) await this.#announce(this.#o.channel.members(), false, false)
  }

  /** A notice from `from`: recorded; an announcement is answered when this member's context runs. */
  receive(m: MapMemberMessage, from: Member): Promise<void> | undefined {
    this.#o.received['map-member']++
    if (typeof m.present !== 'boolean' || (m.ask !== undefined && typeof m.ask !== 'boolean')) {
      this.counters.mapNoticesRefused++
      return Promise.reject(
        new CatteryError(
          sessionCodes.REPLICATION_REFUSED,
          `malformed map-member message from ${describeMember(from)} (present and ask are booleans)`,
        ),
      )
    }
    const id = writerOf(from)
    if (!m.present) {
      this.#set(id, false)
      return undefined
    }
    // A late notice from a member that left the view meanwhile would stay here for good.
    if (!this.#o.channel.members().some((x) => memberId(x) === memberId(from))) return undefined
    this.#set(id, true)
    if (m.ask && this.#o.running()) void this.#announce([from], true, false)
    return undefined
  }

  /** Announces this member again to the members a notice of presence did not reach. */
  retry(): void {
    if (this.#retrying || this.#undelivered.size === 0 || !this.#o.running()) return
    const view = new Set(this.#o.channel.members().map(memberId))
    const to = [...this.#undelivered.values()].filter((m) => view.has(memberId(m)))
    this.#undelivered.clear()
    this.#retrying = true
    void this.#announce(to, true, true).finally(() => {
      this.#retrying = false
    })
  }

  async #announce(to: readonly Member[], present: boolean, ask: boolean): Promise<void> {
    const message: MapMemberMessage = {
      k: SESSION_MESSAGE,
      type: 'map-member',
      ctx: this.#o.contextPath,
      present,
      ...(ask ? { ask } : {}),
    }
    await Promise.all(
      to.map(async (m) => {
        this.#o.sent['map-member']++
        try {
          await this.#o.channel.send(m, message, PUSH_OPTIONS)
        } catch (err) {
          this.counters.mapNoticesFailed++
          if (present && this.#listening) this.#undelivered.set(memberId(m), m)
          this.#o.logger.debug(
            { member: describeMember(m), present, err: (err as Error).message },
            'map membership notice not delivered',
          )
        }
      }),
    )
  }

  readonly #onAdded = (m: Member) => {
    if (this.#o.running()) void this.#announce([m], true, true)
  }

  readonly #onGone = (m: Member) => {
    this.#undelivered.delete(memberId(m))
    this.#set(writerOf(m), false)
  }

  #set(id: string, present: boolean): void {
    if (this.#members.has(id) === present) return
    if (present) this.#members.add(id)
    else this.#members.delete(id)
    this.#version++
    this.#o.changed(id, present)
  }
}
