import { CatteryError, codes } from './errors.ts'

/** Tribes' numeric send flags, kept so a Tomcat user's `channelSendOptions` mean the same here. */
export const SendOption = {
  BYTE_MESSAGE: 1,
  USE_ACK: 2,
  SYNCHRONIZED_ACK: 4,
  ASYNCHRONOUS: 8,
  SECURE: 16,
} as const

const names: Record<string, number> = {
  byte: SendOption.BYTE_MESSAGE,
  ack: SendOption.USE_ACK,
  use_ack: SendOption.USE_ACK,
  sync: SendOption.SYNCHRONIZED_ACK,
  synchronized_ack: SendOption.SYNCHRONIZED_ACK,
  async: SendOption.ASYNCHRONOUS,
  asynchronous: SendOption.ASYNCHRONOUS,
  secure: SendOption.SECURE,
}

const SEND_OPTION_NAMES = Object.keys(names)

/** Accepts a number (8), a numeric string ("10") or names ("async,ack" / "async|ack"). */
export function parseSendOptions(value: number | string): number {
  if (typeof value === 'number') return checkRange(value, String(value))
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return checkRange(Number(trimmed), value)
  let flags = 0
  for (const part of trimmed.split(/[,|+\s]+/).filter(Boolean)) {
    const flag = names[part.toLowerCase()]
    if (flag === undefined) {
      throw new CatteryError(
        codes.BAD_SEND_OPTIONS,
        `unknown send option '${part}' in '${value}': use a number 0-31 or names from ${SEND_OPTION_NAMES.join(', ')}`,
      )
    }
    flags |= flag
  }
  return flags
}

function checkRange(n: number, raw: string): number {
  if (!Number.isInteger(n) || n < 0 || n > 31) {
    throw new CatteryError(codes.BAD_SEND_OPTIONS, `send options '${raw}' must be an integer 0-31`)
  }
  return n
}

export const wantsAck = (options: number): boolean =>
  (options & (SendOption.USE_ACK | SendOption.SYNCHRONIZED_ACK)) !== 0
export const wantsSyncAck = (options: number): boolean => (options & SendOption.SYNCHRONIZED_ACK) !== 0
export const isAsync = (options: number): boolean => (options & SendOption.ASYNCHRONOUS) !== 0
