/**
 * The limits a session's content obeys, wherever it comes from. A local write (Session.set,
 * setMaxInactiveInterval) throws the coded error at once; a replicated change or copy
 * (replicated-checks.ts) is refused with the same code. One place, so the two cannot drift: a
 * change one node accepted is accepted by every other node with the same configuration.
 */
import { encode } from '../tribes/codec.ts'
import { CatteryError } from '../tribes/errors.ts'
import { sessionCodes } from './errors.ts'
import { assertReplicable } from './replicable.ts'

export interface SessionLimits {
  /** Largest encoded attribute, bytes (session.maxAttributeSize). */
  maxAttributeSize: number
  /** Largest encoded session (all attributes), bytes (session.maxSessionSize). */
  maxSessionSize: number
  /** Attributes one session may hold (session.maxAttributes). */
  maxAttributes: number
  /** Nesting of objects, arrays, maps and sets in an attribute value (session.maxValueDepth). */
  maxValueDepth: number
  /** Largest max inactive interval, seconds (session.maxTimeout); -1: no bound, never-expiring allowed. */
  maxInactiveInterval: number
}

export const DEFAULT_LIMITS: SessionLimits = {
  maxAttributeSize: 1024 * 1024,
  maxSessionSize: 4 * 1024 * 1024,
  maxAttributes: 1000,
  maxValueDepth: 64,
  maxInactiveInterval: 24 * 3600,
}

/** Attribute names are strings of 1-256 characters. */
export function checkAttributeName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 256) {
    throw new CatteryError(sessionCodes.BAD_ATTRIBUTE_NAME, 'attribute names are strings of 1-256 characters')
  }
}

/** The value's encoded form, once it is known to be replicable, shallow enough and small enough. */
export function encodeAttribute(name: string, value: unknown, limits: SessionLimits): Buffer {
  assertReplicable(value, name, limits.maxValueDepth)
  let bytes: Buffer
  try {
    bytes = encode(value)
  } catch (err) {
    throw new CatteryError(
      sessionCodes.NOT_REPLICABLE,
      `session attribute '${name}' cannot be encoded: ${(err as Error).message}`,
    )
  }
  checkAttributeSize(name, bytes.length, limits)
  return bytes
}

/**
 * The value's encoded size, checked as encodeAttribute checks it. A number, boolean, null or string
 * (most attributes: counters, flags, ids, names) is measured without being encoded.
 */
export function attributeSize(name: string, value: unknown, limits: SessionLimits): number {
  const size = primitiveSize(value)
  if (size === undefined) return encodeAttribute(name, value, limits).length
  checkAttributeSize(name, size, limits)
  return size
}

/**
 * The size the codec gives a number, boolean, null or string, without encoding it (msgpack as msgpackr
 * writes it: 0-63 and -32..-1 in one byte, 64-127 in two, for its record ids; other numbers in the
 * smallest integer form, else as a double). undefined for any other value. Held to the codec by
 * test/unit/session/attribute-size.test.ts.
 */
export function primitiveSize(value: unknown): number | undefined {
  switch (typeof value) {
    case 'number':
      if (value >>> 0 === value) return value < 0x40 ? 1 : value < 0x100 ? 2 : value < 0x10000 ? 3 : 5
      if (value >> 0 === value) return value >= -0x20 ? 1 : value >= -0x80 ? 2 : value >= -0x8000 ? 3 : 5
      return 9
    case 'string': {
      const n = Buffer.byteLength(value)
      return n + (n < 0x20 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5)
    }
    case 'boolean':
      return 1
    default:
      return value === null ? 1 : undefined
  }
}

function checkAttributeSize(name: string, size: number, limits: SessionLimits): void {
  if (size > limits.maxAttributeSize) {
    throw new CatteryError(
      sessionCodes.ATTRIBUTE_TOO_LARGE,
      `session attribute '${name}' is ${size} bytes encoded; the limit is ${limits.maxAttributeSize} (session.maxAttributeSize)`,
    )
  }
}

export function checkSessionSize(total: number, limits: SessionLimits, name?: string): void {
  if (total > limits.maxSessionSize) {
    throw new CatteryError(
      sessionCodes.SESSION_TOO_LARGE,
      `${name === undefined ? 'the session would be' : `setting '${name}' would make the session`} ${total} bytes; the limit is ${limits.maxSessionSize} (session.maxSessionSize)`,
    )
  }
}

export function checkAttributeCount(count: number, limits: SessionLimits): void {
  if (count > limits.maxAttributes) {
    throw new CatteryError(
      sessionCodes.TOO_MANY_ATTRIBUTES,
      `the session would hold ${count} attributes; the limit is ${limits.maxAttributes} (session.maxAttributes)`,
    )
  }
}

/** An integer number of seconds within the bound; negative (never expires) only without a bound. */
export function checkInactiveInterval(seconds: unknown, limits: SessionLimits): asserts seconds is number {
  const max = limits.maxInactiveInterval
  const ok =
    Number.isSafeInteger(seconds) && (max < 0 || ((seconds as number) >= 0 && (seconds as number) <= max))
  if (!ok) {
    throw new CatteryError(
      sessionCodes.BAD_INACTIVE_INTERVAL,
      `max inactive interval ${String(seconds)} s: ${max < 0 ? 'must be an integer' : `must be an integer from 0 to ${max} (session.maxTimeout); sessions that never expire need session.maxTimeout -1`}`,
    )
  }
}
