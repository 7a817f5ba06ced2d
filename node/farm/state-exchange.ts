/**
 * The farm's catch-up exchange (state-request / state, messages.ts). A member that starts asks the
 * ready members, oldest first, for their entries and reports until one answers: each donor gets
 * STATE_ANSWER_MS, and the asking goes round for at most STATE_WAIT_MS (or the catch-up timeout when
 * shorter), since a donor may not know the joiner for a moment after it starts (its view lags). A
 * ready member sends its state unasked (request 0) to a member that comes into its view, so a member
 * that comes back converges; a state no request waits for is merged as it comes.
 */
import type { Logger } from 'pino'
import type { Channel } from '../tribes/channel-types.ts'
import { describeMember, type Member } from '../tribes/member.ts'
import { SendOption } from '../tribes/send-options.ts'
import type { FarmEntry } from './farm-state.ts'
import { FARM_MESSAGE, type FarmMessage } from './messages.ts'
import type { FarmReport } from './reports.ts'

/** A joiner waits this long for a donor's answer before it asks the next one. */
const STATE_ANSWER_MS = 5_000
/** A joiner asks round the ready members for their entries for at most this long. */
const STATE_WAIT_MS = 10_000

export type FarmState = FarmMessage & { type: 'state' }

export interface StateExchangeOptions {
  channel: Channel
  logger: Logger
  /** What this member tells another: every entry it holds (tombstones too) and every report. */
  held: () => { entries: FarmEntry[]; reports: FarmReport[] }
  /** Merges another member's state into this member's. */
  merge: (state: FarmState) => void
}

export interface DonorRound {
  /** When the catch-up started (ms). */
  started: number
  catchUpTimeoutMs: number
  stopped: () => boolean
  /** Called before each donor is asked. */
  asking: (donor: Member) => void
}

export class FarmStateExchange {
  readonly #o: StateExchangeOptions
  readonly #answers = new Map<number, (m: FarmState) => void>()
  #requests = 0

  constructor(o: StateExchangeOptions) {
    this.#o = o
  }

  /**
   * Asks round the ready members until one answers (its state is merged). Resolves with whether one
   * answered and how many were asked.
   */
  async askDonors(round: DonorRound): Promise<{ answered: boolean; asked: number }> {
    const { started, catchUpTimeoutMs, stopped, asking } = round
    // A donor may not know this member for a moment after it starts (its view lags): ask round the
    // ready members until one answers, for at most STATE_WAIT_MS.
    let answered = false
    let asked = 0
    while (!answered && !stopped() && Date.now() - started < Math.min(STATE_WAIT_MS, catchUpTimeoutMs)) {
      const donors = this.#o.channel
        .members()
        .filter((m) => m.ready)
        .sort((a, b) => a.startTime - b.startTime)
      if (donors.length === 0) break
      for (const donor of donors) {
        asking(donor)
        asked++
        const state = await this.#ask(donor)
        if (!state) continue
        this.#o.merge(state)
        answered = true
        break
      }
      if (!answered) await new Promise((r) => setTimeout(r, 100))
    }
    return { answered, asked }
  }

  /** Sends this member's state to `to`, answering `request` (0: unasked). */
  send(to: Member, request: number): Promise<void> {
    return this.#o.channel
      .send(to, { k: FARM_MESSAGE, type: 'state', request, ...this.#o.held() }, SendOption.USE_ACK)
      .catch((err) =>
        this.#o.logger.warn(
          { to: describeMember(to), err: (err as Error).message },
          'cannot send the farm state',
        ),
      )
  }

  /** A state received: the answer a request waits for, else merged as it comes. */
  received(state: FarmState): void {
    const waiting = this.#answers.get(state.request)
    if (waiting) waiting(state)
    else this.#o.merge(state)
  }

  #ask(donor: Member): Promise<FarmState | undefined> {
    const request = ++this.#requests
    return new Promise((resolve) => {
      const t = setTimeout(() => done(undefined), STATE_ANSWER_MS)
      const done = (m: FarmState | undefined) => {
        clearTimeout(t)
        this.#answers.delete(request)
        resolve(m)
      }
      this.#answers.set(request, done)
      this.#o.channel
        .send(donor, { k: FARM_MESSAGE, type: 'state-request', request }, SendOption.USE_ACK)
        .catch((err) => {
          this.#o.logger.debug(
            { donor: describeMember(donor), err: (err as Error).message },
            'cannot ask for the farm state',
          )
          done(undefined)
        })
    })
  }
}
