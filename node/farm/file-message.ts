/**
 * Tomcat's FileMessage / FileMessageFactory: an archive travels as chunks, each one byte message
 * (send option 1, so the bytes are not re-encoded) that names its archive by digest and its place by
 * offset:
 *
 *   "CFRM" (4 bytes) | version 1 (1) | SHA-256 of the archive (32) | offset (6, big-endian) | data
 *
 * The chunk size is the sender's: at most CHUNK_BYTES, and at most half of the channel's largest frame
 * (chunkSizeFor). A receiver takes the chunks of one archive from one sender (staging.ts).
 */
import { CatteryError, codes } from '../tribes/errors.ts'

const MAGIC = Buffer.from('CFRM')
const VERSION = 1
export const CHUNK_HEADER_BYTES = 4 + 1 + 32 + 6
/** The largest chunk: 256 KiB. */
export const CHUNK_BYTES = 256 * 1024

export interface Chunk {
  digest: string
  offset: number
  data: Uint8Array
}

export const chunkSizeFor = (maxFrameBytes: number): number =>
  Math.max(1024, Math.min(CHUNK_BYTES, Math.floor(maxFrameBytes / 2) - CHUNK_HEADER_BYTES))

/**
 * A chunk of `length` bytes at `offset` with its header written: the caller fills the data part
 * (`buffer.subarray(CHUNK_HEADER_BYTES)`), e.g. straight from the file.
 */
export function chunkBuffer(digest: string, offset: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(CHUNK_HEADER_BYTES + length)
  MAGIC.copy(b, 0)
  b[4] = VERSION
  b.write(digest, 5, 32, 'hex')
  b.writeUIntBE(offset, 37, 6)
  return b
}

/** A farm chunk starts with "CFRM". */
export const isChunk = (bytes: unknown): bytes is Uint8Array =>
  bytes instanceof Uint8Array &&
  bytes.length >= 4 &&
  bytes[0] === MAGIC[0] &&
  bytes[1] === MAGIC[1] &&
  bytes[2] === MAGIC[2] &&
  bytes[3] === MAGIC[3]

/** Reads a chunk; throws CATTERY_ERR_FARM_BAD_CHUNK when it is short or of another version. */
export function decodeChunk(bytes: Uint8Array): Chunk {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (b.length < CHUNK_HEADER_BYTES)
    throw new CatteryError(
      codes.FARM_BAD_CHUNK,
      `a farm chunk of ${b.length} bytes is shorter than its header`,
    )
  if (b[4] !== VERSION)
    throw new CatteryError(
      codes.FARM_BAD_CHUNK,
      `a farm chunk of version ${b[4]}; this member reads ${VERSION}`,
    )
  return {
    digest: b.toString('hex', 5, 37),
    offset: b.readUIntBE(37, 6),
    data: b.subarray(CHUNK_HEADER_BYTES),
  }
}
