/**
 * How state transfer cuts sessions into messages, by encoded bytes (the donor, state-transfer-donor.ts,
 * sends them; the joiner, transfer-receiver.ts, takes them).
 *
 * PageCutter (donor): sessions, each already encoded on its own, are gathered into pages of at most
 * `maxCount` sessions and `budgetBytes` encoded bytes; a session larger than the budget is never put
 * in a page, it goes alone as chunks of at most `budgetBytes` (see chunksOf). Bound: one page
 * (< budgetBytes + one session under the budget) is held at a time.
 *
 * Reassembly (joiner): the chunks of one large session, in order (each is acknowledged before the
 * next leaves, so they cannot overtake each other); one session is reassembled at a time, at most
 * `maxBytes`: a larger one is refused (its chunks are dropped as they come, the transfer goes on).
 */
import { CatteryError } from '../tribes/errors.ts'
import { sessionCodes } from './errors.ts'

/** The page budget for a receiver that accepts frames of up to `maxFrameBytes`: half, for headroom. */
export function pageBudget(maxFrameBytes: number): number {
  return Math.max(1024, Math.floor(maxFrameBytes / 2))
}

export class PageCutter {
  readonly #budget: number
  readonly #maxCount: number
  #page: Uint8Array[] = []
  #bytes = 0

  constructor(budgetBytes: number, maxCount: number) {
    this.#budget = budgetBytes
    this.#maxCount = Math.max(1, maxCount)
  }

  /** The page holds pageSize sessions: it leaves before the next session is even read. */
  get full(): boolean {
    return this.#page.length >= this.#maxCount
  }

  /** True when a session of this many bytes must travel alone, in chunks. */
  oversized(bytes: Uint8Array): boolean {
    return bytes.length > this.#budget
  }

  /**
   * Adds a session (not oversized): returns the page that must leave first when it would not fit,
   * otherwise undefined.
   */
  add(bytes: Uint8Array): Uint8Array[] | undefined {
    let full: Uint8Array[] | undefined
    if (this.#page.length >= this.#maxCount || this.#bytes + bytes.length > this.#budget) full = this.take()
    this.#page.push(bytes)
    this.#bytes += bytes.length
    return full
  }

  /** The page gathered so far (undefined when empty); the cutter starts a new one. */
  take(): Uint8Array[] | undefined {
    if (this.#page.length === 0) return undefined
    const page = this.#page
    this.#page = []
    this.#bytes = 0
    return page
  }
}

/** The encoded bytes of one session cut into chunks of at most `size` bytes (views, not copies). */
export function chunksOf(bytes: Uint8Array, size: number): Uint8Array[] {
  const chunks: Uint8Array[] = []
  for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size))
  return chunks
}

/** What a chunk completes: the session's bytes, or the refusal of a session over the bound. */
export type Reassembled = { bytes: Uint8Array } | { refused: string }

/** Joiner: the chunks of the one large session being received. */
export class Reassembly {
  readonly #maxBytes: number
  #parts: Uint8Array[] = []
  #bytes = 0
  #count = 0
  #next = 0
  /** The session being received is over the bound: its chunks are dropped as they come. */
  #refusing: string | undefined

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes
  }

  /**
   * Chunk `index` of `count` of a session of `total` bytes. Once the last chunk arrived: the
   * session's bytes, or — when `total` is over the bound — its refusal (the chunks were not kept);
   * before: undefined. Throws (TRANSFER_CHUNK_LIMIT) on a chunk out of order or over its announced
   * size; the partial session is then forgotten.
   */
  add(index: number, count: number, total: number, chunk: Uint8Array): Reassembled | undefined {
    try {
      if (index !== this.#next || (index > 0 && count !== this.#count) || !(index < count))
        throw new CatteryError(
          sessionCodes.TRANSFER_CHUNK_LIMIT,
          `session chunk ${index}/${count} arrived out of order`,
        )
      if (!(chunk instanceof Uint8Array) || !Number.isSafeInteger(total) || total < 0)
        throw new CatteryError(sessionCodes.TRANSFER_CHUNK_LIMIT, 'a malformed session chunk')
      if (index === 0 && total > this.#maxBytes)
        this.#refusing = `a transferred session of ${total} bytes exceeds the limit of ${this.#maxBytes}`
      if (!this.#refusing && this.#bytes + chunk.length > total)
        throw new CatteryError(
          sessionCodes.TRANSFER_CHUNK_LIMIT,
          'session chunks exceed their announced size',
        )
    } catch (err) {
      this.reset()
      throw err
    }
    this.#count = count
    this.#next++
    if (!this.#refusing) {
      this.#parts.push(chunk)
      this.#bytes += chunk.length
    }
    if (this.#next < count) return undefined
    const outcome: Reassembled = this.#refusing
      ? { refused: this.#refusing }
      : { bytes: Buffer.concat(this.#parts) }
    this.reset()
    return outcome
  }

  /** Forgets a partial session (a new transfer, or a failed one). */
  reset(): void {
    this.#parts = []
    this.#bytes = 0
    this.#count = 0
    this.#next = 0
    this.#refusing = undefined
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.#bytes
  }
}
