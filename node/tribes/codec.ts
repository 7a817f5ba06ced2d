import { Packr } from 'msgpackr'
import { CatteryError, codes } from './errors.ts'

/**
 * The one msgpackr configuration the cluster speaks. structuredClone keeps Map, Set, Date, typed
 * arrays and shared references; record definitions travel inline, so any node decodes any message
 * without shared state.
 */
const packr = new Packr({ structuredClone: true, useBigIntExtension: true })
/** Headers and member records: plain maps, no extensions. */
const plain = new Packr({ useRecords: false })

export function encode(value: unknown): Buffer {
  return packr.pack(value)
}

export function decode(bytes: Uint8Array): unknown {
  try {
    return packr.unpack(bytes)
  } catch (err) {
    throw new CatteryError(
      codes.DECODE_FAILED,
      `message body is not valid msgpack: ${(err as Error).message}`,
      {
        cause: err,
      },
    )
  }
}

export function encodePlain(value: unknown): Buffer {
  return plain.pack(value)
}

export function decodePlain(bytes: Uint8Array): unknown {
  try {
    return plain.unpack(bytes)
  } catch (err) {
    throw new CatteryError(
      codes.DECODE_FAILED,
      `frame header is not valid msgpack: ${(err as Error).message}`,
      {
        cause: err,
      },
    )
  }
}
