/**
 * Which archives go to which members, and come from which. A deploy or undeploy is announced to the
 * members (with ACK); for a deploy, its archive's chunks follow to the members that took the
 * announcement (archive-sender.ts). A member that hears an announcement that wins expects the archive
 * from its sender (staging.ts). A member asked for an archive (fetch) sends it if it holds it, or says
 * it does not (unavailable). A member that lacks the archive it should run waits for the transfer under
 * way, if any, then fetches it from the members said to hold it (those that report they run it, and
 * the deploy's origin) first, then from any ready member.
 */
import type { Logger } from 'pino'
import type { Channel } from '../tribes/channel-types.ts'
import { CatteryError, codes } from '../tribes/errors.ts'
import { describeMember, type Member, memberId } from '../tribes/member.ts'
import { SendOption } from '../tribes/send-options.ts'
import { sendArchive } from './archive-sender.ts'
import type { FarmEntry } from './farm-state.ts'
import { chunkSizeFor } from './file-message.ts'
import { FARM_MESSAGE } from './messages.ts'
import type { Staging } from './staging.ts'

const ACKED = SendOption.USE_ACK | SendOption.SYNCHRONIZED_ACK

export interface ArchiveTransfersOptions {
  channel: Channel
  logger: Logger
  staging: Staging
  /** The size of the archive `digest` when the farm holds an entry with it. */
  sizeOf: (digest: string) => number | undefined
  /** The members that report they run `digest` of the application `name`. */
  runners: (name: string, digest: string) => string[]
  /** This member stops: it fetches from no further member. */
  stopped: () => boolean
}

export class ArchiveTransfers {
  readonly #o: ArchiveTransfersOptions

  constructor(o: ArchiveTransfersOptions) {
    this.#o = o
  }

  /** Announces `entry` to `to` and, for a deploy, sends its archive; members that fail are logged. */
  async announce(entry: FarmEntry, to: Member[]): Promise<void> {
    if (to.length === 0) return
    const { channel, logger } = this.#o
    const took: Member[] = []
    await Promise.all(
      to.map((m) =>
        channel.send(m, { k: FARM_MESSAGE, type: 'announce', entry }, ACKED).then(
          () => took.push(m),
          (err) =>
            logger.warn(
              {
                event: 'farm-announce-failed',
                app: entry.name,
                member: describeMember(m),
                err: (err as Error).message,
              },
              'a member did not take the farm announcement; it catches up when it comes back',
            ),
        ),
      ),
    )
    if (entry.digest === null || took.length === 0) return
    const file = this.#o.staging.staged(entry.digest)
    if (!file) return
    const failed = await this.#send(took, file, entry.digest, entry.size)
    for (const [m, err] of failed)
      logger.debug(
        { app: entry.name, member: describeMember(m), err: err.message },
        'archive not sent to a member',
      )
  }

  /** An announced deploy that won: its archive is expected from `from` (unless staged already). */
  expect(entry: FarmEntry, from: Member): void {
    const { staging } = this.#o
    if (entry.digest !== null && !staging.staged(entry.digest))
      staging.receive(entry.digest, entry.size, memberId(from)).catch(() => {})
  }

  /** Sends the staged archive `digest` to `to`, or says it does not hold it. */
  async give(to: Member, digest: string): Promise<void> {
    const file = this.#o.staging.staged(digest)
    const size = this.#o.sizeOf(digest)
    if (!file || size === undefined) {
      await this.#o.channel
        .send(to, { k: FARM_MESSAGE, type: 'unavailable', digest }, SendOption.USE_ACK)
        .catch(() => {})
      return
    }
    const failed = await this.#send([to], file, digest, size)
    if (failed.size)
      this.#o.logger.warn({ to: describeMember(to), digest }, 'could not send an archive to a member')
  }

  /** `from` does not hold the archive `digest`: its transfer from `from` fails. */
  unavailable(digest: string, from: Member): void {
    this.#o.staging.abort(digest, memberId(from), `${describeMember(from)} does not hold it`)
  }

  /** `m` left the view: the transfers from it fail. */
  memberGone(m: Member): void {
    this.#o.staging.abortFrom(memberId(m), `${describeMember(m)} left`)
  }

  /** The staged archive of `entry`: received already, being received, or fetched from a member that holds it. */
  async fetch(entry: FarmEntry): Promise<string> {
    const { staging } = this.#o
    const digest = entry.digest as string
    const staged = staging.staged(digest)
    if (staged) return staged
    const coming = staging.receiving(digest)
    let last: unknown
    if (coming) {
      try {
        return await coming
      } catch (err) {
        last = err
      }
    }
    const { channel } = this.#o
    // Members said to hold it (they run it, or deployed it) first, then any ready member.
    const holders = new Set(this.#o.runners(entry.name, digest))
    holders.add(entry.origin)
    const members = channel.members()
    const candidates = [
      ...members.filter((m) => holders.has(m.name)),
      ...members.filter((m) => !holders.has(m.name) && m.ready),
    ]
    for (const m of candidates) {
      if (this.#o.stopped()) break
      const done = staging.receive(digest, entry.size, memberId(m))
      try {
        await channel.send(m, { k: FARM_MESSAGE, type: 'fetch', digest }, SendOption.USE_ACK)
        return await done
      } catch (err) {
        last = err
        staging.abort(digest, memberId(m), 'the fetch failed')
        if ((err as { code?: string }).code === codes.FARM_DIGEST_MISMATCH) break
      }
    }
    if (last instanceof CatteryError && last.code !== codes.FARM_TRANSFER_FAILED) throw last
    throw new CatteryError(
      codes.FARM_TRANSFER_FAILED,
      `application ${entry.name}: the archive ${digest.slice(0, 12)} could not be received from any member${last ? ` (last: ${(last as Error).message})` : ''}`,
    )
  }

  #send(to: Member[], file: string, digest: string, size: number) {
    return sendArchive({
      channel: this.#o.channel,
      to,
      file,
      digest,
      size,
      chunkSize: chunkSizeFor(this.#o.channel.maxFrameBytes),
    })
  }
}
