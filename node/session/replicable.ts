/**
 * What a session attribute may hold: values msgpackr carries faithfully — JSON values, Date, Map,
 * Set, Uint8Array/Buffer, BigInt, RegExp, Error, and plain objects and arrays of them. Anything else
 * (functions, symbols, class instances, promises, weak collections) would arrive changed or empty on
 * the other nodes, so it is refused when it is set, naming where in the value the problem is.
 */
import { CatteryError } from '../tribes/errors.ts'
import { sessionCodes } from './errors.ts'

export function assertReplicable(value: unknown, name: string, maxDepth = 64): void {
  // A primitive (most attributes: counters, ids, flags) needs no walk and no set of seen objects.
  if (
    value === null ||
    (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol')
  )
    return
  const problem = findProblem(value, name, new Set(), maxDepth)
  if (problem === TOO_DEEP) {
    throw new CatteryError(
      sessionCodes.VALUE_TOO_DEEP,
      `session attribute '${name}' nests deeper than ${maxDepth} levels (session.maxValueDepth)`,
    )
  }
  if (problem) {
    throw new CatteryError(
      sessionCodes.NOT_REPLICABLE,
      `session attribute '${name}' cannot be replicated: ${problem} (allowed: JSON values, Date, Map, Set, Uint8Array/Buffer, BigInt and plain objects/arrays of them)`,
    )
  }
}

const TOO_DEEP = Symbol('too deep')

/** The first problem found; the walk stops below `depth` levels (a 3,000-deep value costs 64 frames). */
function findProblem(
  v: unknown,
  path: string,
  seen: Set<object>,
  depth: number,
): string | typeof TOO_DEEP | undefined {
  switch (typeof v) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'bigint':
    case 'undefined':
      return undefined
    case 'function':
      return `${path} is a function`
    case 'symbol':
      return `${path} is a symbol`
  }
  if (v === null) return undefined
  if (depth <= 0) return TOO_DEEP
  const o = v as object
  if (seen.has(o)) return undefined
  seen.add(o)
  if (o instanceof Date || o instanceof RegExp || ArrayBuffer.isView(o) || o instanceof Error)
    return undefined
  if (Array.isArray(o)) {
    for (let i = 0; i < o.length; i++) {
      const p = findProblem(o[i], `${path}[${i}]`, seen, depth - 1)
      if (p) return p
    }
    return undefined
  }
  if (o instanceof Map) {
    for (const [k, val] of o) {
      const p =
        findProblem(k, `${path} key`, seen, depth - 1) ??
        findProblem(val, `${path}.get(${String(k)})`, seen, depth - 1)
      if (p) return p
    }
    return undefined
  }
  if (o instanceof Set) {
    for (const val of o) {
      const p = findProblem(val, `${path} member`, seen, depth - 1)
      if (p) return p
    }
    return undefined
  }
  const proto = Object.getPrototypeOf(o)
  if (proto !== Object.prototype && proto !== null) {
    return `${path} is an instance of ${o.constructor?.name ?? 'a class'}, which would arrive as a plain object`
  }
  for (const [k, val] of Object.entries(o)) {
    const p = findProblem(val, `${path}.${k}`, seen, depth - 1)
    if (p) return p
  }
  return undefined
}
