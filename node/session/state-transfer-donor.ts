/**
 * The donor side of a state transfer (state-transfer.ts has the joiner's): waits until the joiner is
 * in its view (changes made after the snapshot reach it only then), takes the snapshot of the ids to
 * send, and sends each session that can be encoded in pages cut by encoded bytes (transfer-pages.ts):
 * one page travels while the next is read and encoded, and a page leaves only once the one before was
 * acknowledged; a session over a page's budget travels alone in chunks, each acknowledged before the
 * next. One that cannot be encoded is left out, logged with its id and counted (`transferSkipped`).
 * `transfer-complete` says how many were sent and skipped, or, when the transfer could not finish,
 * why (so the joiner need not wait for its page timeout). From the snapshot until the end, the
 * changes this donor receives are relayed to the joiner (donor-relay.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import type { Channel } from '../tribes/channel-types.ts'
import { encode } from '../tribes/codec.ts'
import { describeMember, type Member, memberId } from '../tribes/member.ts'
import { SendOption } from '../tribes/send-options.ts'
import type { DonorRelay } from './donor-relay.ts'
import { sessionCodes } from './errors.ts'
import { type MessageCounts, SESSION_MESSAGE } from './messages.ts'
import { toTuple } from './session.ts'
import type { TransferredSessions } from './state-transfer.ts'
import { chunksOf, PageCutter } from './transfer-pages.ts'
import type { TransferRequest } from './transfer-request.ts'

export interface DonorOptions {
  channel: Channel
  contextPath: string
  logger: Logger
  sessions: TransferredSessions
  /** The manager's counts of sent messages, by type. */
  sent: MessageCounts
  /** Sessions per page, at most. */
  pageSize: number
  /** Encoded bytes per page, at most (pageBudget of the receivers' largest frame). */
  budget: number
  relay: DonorRelay
  counters: { transferSkipped: number }
}

/** Every session that can be encoded, in pages cut by bytes, each acknowledged before the next. */
export async function giveState(o: DonorOptions, to: Member, request: TransferRequest): Promise<void> {
  const { transfer, scope, packed } = request
  const { channel, contextPath: ctx, sent, logger } = o
  // Changes made after the snapshot reach the joiner only once it is in our view: wait for that
  // (it pinged us before asking, so it is a matter of milliseconds), then take the snapshot.
  const id = memberId(to)
  for (let waited = 0; waited < 2000 && !channel.members().some((m) => memberId(m) === id); waited += 10) {
    await sleep(10)
  }
  o.relay.serving(to)
  const ids = o.sessions.ids(to, scope)
  const cutter = new PageCutter(o.budget, o.pageSize)
  let pages = 0
  let sessions = 0
  let skipped = 0
  // One page travels while the next is read and encoded: the joiner installs page n while this
  // member encodes page n + 1 (on two cores, the transfer takes the longer of the two sides, not
  // their sum). At most one page is unacknowledged, so memory is two pages here and one there.
  let inFlight: Promise<void> | undefined
  const acknowledged = async () => {
    const last = inFlight
    inFlight = undefined
    await last
  }
  const sendPage = async (page: Uint8Array[] | undefined) => {
    if (!page) return
    await acknowledged()
    sent['all-data']++
    inFlight = channel.send(
      to,
      { k: SESSION_MESSAGE, type: 'all-data', ctx, transfer, page: pages++, sessions: page },
      SendOption.USE_ACK,
    )
    // A failure is thrown where the page is awaited (above, or before the chunks and the end), never
    // left unhandled meanwhile.
    inFlight.catch(() => undefined)
  }
  try {
    for (const sid of ids) {
      // A full page leaves (once the one before it was acknowledged) before the next is read.
      if (cutter.full) await sendPage(cutter.take())
      const d = o.sessions.data(sid)
      if (!d) continue
      let bytes: Uint8Array
      try {
        bytes = encode(packed ? toTuple(d) : d)
      } catch (err) {
        skipped++
        o.counters.transferSkipped++
        logger.warn(
          {
            code: sessionCodes.TRANSFER_SKIPPED,
            id: sid,
            to: describeMember(to),
            err: (err as Error).message,
          },
          'a session that cannot be encoded is left out of the state transfer',
        )
        continue
      }
      sessions++
      if (!cutter.oversized(bytes)) {
        await sendPage(cutter.add(bytes))
        continue
      }
      await sendPage(cutter.take())
      await acknowledged()
      const chunks = chunksOf(bytes, o.budget)
      for (const [index, chunk] of chunks.entries()) {
        sent['all-data-chunk']++
        await channel.send(
          to,
          {
            k: SESSION_MESSAGE,
            type: 'all-data-chunk',
            ctx,
            transfer,
            index,
            count: chunks.length,
            total: bytes.length,
            bytes: chunk,
          },
          SendOption.USE_ACK,
        )
      }
    }
    await sendPage(cutter.take())
    await acknowledged()
    sent['transfer-complete']++
    await channel.send(
      to,
      { k: SESSION_MESSAGE, type: 'transfer-complete', ctx, transfer, pages, sessions, skipped },
      SendOption.USE_ACK,
    )
    logger.info({ to: describeMember(to), sessions, skipped, pages }, 'sent all sessions')
  } catch (err) {
    await inFlight?.catch(() => undefined) // the page still travelling, before the end is sent
    const message = (err as Error).message
    logger.warn({ to: describeMember(to), err: message }, 'state transfer to a joining member failed')
    // Tells the joiner at once (best effort), so it need not wait for its page timeout.
    sent['transfer-complete']++
    await channel
      .send(
        to,
        {
          k: SESSION_MESSAGE,
          type: 'transfer-complete',
          ctx,
          transfer,
          pages,
          sessions,
          skipped,
          error: message,
        },
        SendOption.USE_ACK,
      )
      .catch(() => undefined)
  } finally {
    o.relay.served(to)
  }
}
