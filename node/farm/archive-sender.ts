/**
 * Sends an archive's chunks (file-message.ts) to members: each chunk goes to every destination at
 * once as a byte message with synchronized ACK (send options 1|2|4), so a chunk counts as sent only
 * once each receiver wrote it to its staging file. At most `window` chunks are in flight, so the
 * sender holds at most window × chunk size of the file in memory, and the receivers' disks set the
 * pace. A member that fails a chunk (it left, declined the archive, or its disk failed) is dropped from
 * the rest of the transfer and named in the result; the others go on.
 */
import { open } from 'node:fs/promises'
import type { Channel } from '../tribes/channel-types.ts'
import { type CatteryError, ChannelSendError } from '../tribes/errors.ts'
import { describeMember, type Member } from '../tribes/member.ts'
import { SendOption } from '../tribes/send-options.ts'
import { CHUNK_HEADER_BYTES, chunkBuffer } from './file-message.ts'

const CHUNK_WINDOW = 4
const CHUNK_OPTIONS = SendOption.BYTE_MESSAGE | SendOption.USE_ACK | SendOption.SYNCHRONIZED_ACK

export interface SendArchive {
  channel: Channel
  to: Member[]
  file: string
  digest: string
  size: number
  chunkSize: number
  window?: number
}

/** Resolves with the members the archive did not reach, each with why. */
export async function sendArchive(o: SendArchive): Promise<Map<Member, CatteryError>> {
  const failed = new Map<Member, CatteryError>()
  let dest = [...o.to]
  const window = o.window ?? CHUNK_WINDOW
  const fh = await open(o.file, 'r')
  const inFlight = new Set<Promise<void>>()
  const drop = (err: unknown, sentTo: Member[]) => {
    if (err instanceof ChannelSendError) {
      for (const f of err.failures) {
        const m = sentTo.find((x) => describeMember(x) === f.member)
        if (m && !failed.has(m)) failed.set(m, f.error)
      }
    } else {
      for (const m of sentTo) if (!failed.has(m)) failed.set(m, err as CatteryError)
    }
    dest = dest.filter((m) => !failed.has(m))
  }
  try {
    for (let offset = 0; offset < o.size; offset += o.chunkSize) {
      if (dest.length === 0) break
      while (inFlight.size >= window) await Promise.race(inFlight)
      if (dest.length === 0) break
      const length = Math.min(o.chunkSize, o.size - offset)
      const chunk = chunkBuffer(o.digest, offset, length)
      const { bytesRead } = await fh.read(chunk, CHUNK_HEADER_BYTES, length, offset)
      if (bytesRead !== length)
        throw new Error(`${o.file} changed while it was sent (read ${bytesRead} of ${length})`)
      const sentTo = [...dest]
      const p: Promise<void> = o.channel
        .send(sentTo, chunk, CHUNK_OPTIONS)
        .catch((err: unknown) => drop(err, sentTo))
        .finally(() => inFlight.delete(p))
      inFlight.add(p)
    }
    await Promise.all(inFlight)
  } finally {
    await fh.close()
  }
  return failed
}
