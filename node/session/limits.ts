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
  if (bytes.length > limits.maxAttributeSize) {
    throw new CatteryError(
      sessionCodes.ATTRIBUTE_TOO_LARGE,
      `session attribute '${name}' is ${bytes.length} bytes encoded; the limit is ${limits.maxAttributeSize} (session.maxAttributeSize)`,
    )
  }
  return bytes
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
