/**
 * The convergence rule of replicated sessions: a session's state is ranked by (version, writer).
 * The higher version wins; equal versions are ordered by the writer's id (writerOf: from the
 * uniqueId of the member that made that version; plain string order). A member only ever makes a
 * version one above the state it holds, and the rank of what it holds never goes down, so one
 * (version, writer) names one state: every member that holds it holds the same session. See docs/sessions.md,
 * _Order, duplicates and conflicts_.
 *
 * Also the form of the version cookie (`<version>.<writer>`) that read-your-writes sends the client.
 */
import { type Member, memberId } from '../tribes/member.ts'

/** A session state's place in the convergence order. */
export interface Rank {
  readonly version: number
  /** The member that made this version (writerOf: its uniqueId, in hex); '' when unknown. */
  readonly writer: string
}

/**
 * A member's writer id: the first 64 bits of its uniqueId (16 random bytes, new at each start), in
 * hex — unique among the members of a cluster but for a 2^-64 chance, and half the bytes on every
 * change and version cookie.
 */
export const writerOf = (m: Pick<Member, 'uniqueId'>): string => memberId(m).slice(0, 16)

/** Writer ids held at most (a cluster's members over many restarts); the table starts over beyond. */
const MAX_WRITERS = 1024
const writers = new Map<string, string>()

/**
 * The one copy of a writer id that sessions share. Every replicated session holds its writer; one
 * decoded from a message is a slice of the decoder's string of that whole message (msgpackr's
 * native string extraction), which it would keep alive: ~200 bytes per session on a replica.
 */
export function internWriter(w: string): string {
  const held = writers.get(w)
  if (held !== undefined) return held
  if (writers.size >= MAX_WRITERS) writers.clear()
  const own = ownString(w)
  writers.set(own, own)
  return own
}

/**
 * A copy of `s` that shares no storage with the string it was cut from (a decoded message's), for
 * strings a session keeps for its lifetime.
 */
export const ownString = (s: string): string => (s.length < 13 ? s : Buffer.from(s).toString())

/** Negative when a ranks below b, 0 when they are the same state, positive when a ranks above. */
export function compareRank(a: Rank, b: Rank): number {
  if (a.version !== b.version) return a.version - b.version
  return a.writer < b.writer ? -1 : a.writer > b.writer ? 1 : 0
}

/** Writers are member ids: hex, at most 64 digits ('' for unknown). */
const WRITER = /^[0-9a-f]{0,64}$/

/** The last string found to be a writer: changes come from few members, so most checks end there. */
let knownWriter = ''

export function isWriter(w: unknown): w is string {
  if (typeof w !== 'string') return false
  if (w === knownWriter) return true
  if (!WRITER.test(w)) return false
  knownWriter = w
  return true
}

/** The version cookie's value: `<version>.<writer>`. */
export const formatRank = (r: Rank): string => `${r.version}.${r.writer}`

const COOKIE = /^([1-9][0-9]{0,15})\.([0-9a-f]{1,64})$/

/** Parses a version cookie's value; undefined when it is not one (it is then ignored). */
export function parseRank(value: string | undefined): Rank | undefined {
  if (value === undefined) return undefined
  const m = COOKIE.exec(value)
  if (!m) return undefined
  const version = Number(m[1])
  if (!Number.isSafeInteger(version)) return undefined
  return { version, writer: m[2] as string }
}
