/**
 * Anti-entropy between the members that hold copies of the same sessions, while the view holds
 * still: a copy, a change or an end a member lost without a view change — an asynchronous send lost
 * with a broken connection (an asynchronous send reports no failure), a copy it refused at a limit
 * since raised, an end it missed — would otherwise stay lost, stale or a zombie until the session is
 * next written (or, under the BackupManager, until the view next changes and repair.ts runs).
 *
 * Every `manager.antiEntropyInterval` (30 s, with ±25% jitter), each ready member whose view is
 * settled sends every other member a **digest** of the sessions both hold under that view (the
 * DeltaManager: every session; the BackupManager: those both own): DIGEST_BUCKETS sums, one per
 * bucket of keys, of a hash of each session's key and rank (version, writer). The receiver computes
 * the same sums over its own copies; for the buckets that differ it answers with its keys and ranks
 * there (`digest-keys`), and the digest's sender then pushes the copies the receiver lacks or holds
 * older (ownership-transfer.ts: synchronously acknowledged, taken by rank), and sends `expired` for
 * the sessions the receiver holds that ended here. Each exchange repairs its receiver; as every
 * member sends digests, the two directions of a pair repair both. A digest names its view (a hash of
 * the member list): one made over another view is ignored, as is any digest reaching a member that
 * is not ready (still receiving its sessions: state transfer and repair place copies then).
 *
 * A change in flight makes its bucket differ for a moment, and the answer then shows the older rank:
 * that copy is pushed although its change would have brought it. It is taken by rank (the change
 * arriving after it is a duplicate), and costs one copy per session whose change was in flight, per
 * round. Holding such pushes back (a copy changed lately is not pushed) would starve a session that
 * is read all the time (every read is an access).
 *
 * Cost per round, per member: one pass over its copies and one 256-sum message (about 1.3 KB) per
 * other member; on receipt, one pass over its copies. Bounds: an answer carries at most
 * MAX_DIGEST_KEYS keys (whole buckets, at least one, from a random place in the list of differing
 * buckets, so that every bucket comes up over the rounds); the other differing buckets are compared
 * again at the next round. Expired-idle copies are left out on both sides (each holder expires them
 * on its own schedule).
 */
import { setImmediate as yieldNow } from 'node:timers/promises'
import type { Logger } from 'pino'
import type { Channel } from '../tribes/channel-types.ts'
import type { Member } from '../tribes/member.ts'
import { SendOption } from '../tribes/send-options.ts'
import { fmix, fnv1a } from './hash.ts'
import { type MessageCounts, SESSION_MESSAGE, type SessionMessage } from './messages.ts'
import type { PlacementView } from './placement.ts'
import { compareRank, writerOf } from './rank.ts'

/** How often a member sends its digests (±25% jitter, so members do not all run at once). */
export const ANTI_ENTROPY_MS = 30_000
/** Buckets of a digest: 2^BUCKET_BITS. */
const BUCKET_BITS = 8
export const DIGEST_BUCKETS = 1 << BUCKET_BITS
/** Keys an answer carries, at most. */
export const MAX_DIGEST_KEYS = 4096

export type DigestMessage = SessionMessage & { type: 'digest' | 'digest-keys' }

/** A copy held, as a digest sees it. */
export interface HeldRank {
  readonly key: string
  readonly version: number
  readonly writer: string
}

/** Copies walked between two yields to the event loop. */
const YIELD_EVERY = 2_000
/** A view is compared only once it held this long (members notice a change at different moments). */
const VIEW_SETTLE_MS = 3_000

/** The members (writer ids) that hold copies of session `key` under a view. */
export type OwnersOf = (view: PlacementView, key: string) => readonly string[]

/** The bucket of a session's key. */
export const bucketOf = (key: string): number => fmix(keyHash(key)) >>> (32 - BUCKET_BITS)

/** A session key's hash: its bucket and its copies' hashes are made of it (one pass over the key). */
const keyHash = (key: string): number => fnv1a(key, 0x2f6b_8e15)

const rankHash = (keyHash: number, c: { readonly version: number; readonly writer: string }): number =>
  fmix(keyHash ^ Math.imul(c.version >>> 0, 0x9e37_79b1) ^ writerHash(c.writer))

/** Writers' hashes: a few per cluster (one per member that wrote), so kept; forgotten past 1,024. */
const writerHashes = new Map<string, number>()
function writerHash(writer: string): number {
  let h = writerHashes.get(writer)
  if (h === undefined) {
    if (writerHashes.size >= 1024) writerHashes.clear()
    h = fnv1a(writer, 0xa54f_f53a)
    writerHashes.set(writer, h)
  }
  return h
}

/** A hash of a view's member list: digests over different views are not compared. */
export const viewHash = (view: PlacementView): number => fnv1a(view.members.join(','), 0x811c_9dc5)

/** A session copy as the walk reads it (a Session): its rank, and whether it expired idle. */
export interface HeldSession {
  readonly version: number
  readonly writer: string
  isExpired(now: number): boolean
}

/** The copies held, by key (the manager's store), expired-idle ones included (the walk skips them). */
export type Held = Iterable<readonly [string, HeldSession]>

/** What a walk looks at: the view, who holds what under it, this member, and the copies held. */
export interface Walk {
  readonly view: PlacementView
  readonly ownersOf: OwnersOf
  readonly self: string
  readonly held: Held
}

/** Visits each copy held (not expired idle) that `self` and another member both hold, with those members. */
async function walk(
  w: Walk,
  peer: string | undefined,
  visit: (key: string, copy: HeldSession, others: readonly string[]) => void,
): Promise<void> {
  const now = Date.now()
  let n = 0
  for (const [key, copy] of w.held) {
    // Requests are served meanwhile (a walk over 100,000 copies takes tens of ms).
    if (++n % YIELD_EVERY === 0) await yieldNow()
    if (copy.isExpired(now)) continue
    const owners = w.ownersOf(w.view, key)
    if (!owners.includes(w.self) || (peer !== undefined && !owners.includes(peer))) continue
    visit(key, copy, owners)
  }
}

/**
 * The digests of the copies `self` shares with each other member (or only with `peer`), by member
 * (writer id), and how many copies each bucket holds: one walk, each copy hashed once.
 */
export async function digests(
  w: Walk,
  peer?: string,
): Promise<Map<string, { sums: Uint32Array; counts: Uint32Array }>> {
  const out = new Map<string, { sums: Uint32Array; counts: Uint32Array }>()
  await walk(w, peer, (key, copy, owners) => {
    const kh = keyHash(key)
    const b = fmix(kh) >>> (32 - BUCKET_BITS)
    const h = rankHash(kh, copy)
    for (const o of owners) {
      if (o === w.self || (peer !== undefined && o !== peer)) continue
      let d = out.get(o)
      if (!d) {
        d = { sums: new Uint32Array(DIGEST_BUCKETS), counts: new Uint32Array(DIGEST_BUCKETS) }
        out.set(o, d)
      }
      d.sums[b] = ((d.sums[b] as number) + h) >>> 0
      ;(d.counts[b] as number)++
    }
  })
  return out
}

/** The copies `self` shares with `peer` in `buckets`, with their ranks. */
export async function copiesIn(w: Walk, peer: string, buckets: ReadonlySet<number>): Promise<HeldRank[]> {
  const out: HeldRank[] = []
  await walk(w, peer, (key, copy) => {
    if (buckets.has(bucketOf(key))) out.push({ key, version: copy.version, writer: copy.writer })
  })
  return out
}

/** The buckets whose sums differ, from bucket `from` on (wrapping round). */
export function differingBuckets(mine: ArrayLike<number>, theirs: ArrayLike<number>, from = 0): number[] {
  const out: number[] = []
  for (let i = 0; i < DIGEST_BUCKETS; i++) {
    const b = (from + i) % DIGEST_BUCKETS
    if (mine[b] !== theirs[b]) out.push(b)
  }
  return out
}

/**
 * The first of `buckets` whose copies, by `counts`, fit MAX_DIGEST_KEYS together (whole buckets, at
 * least one): those an answer carries.
 */
export function bucketsToAnswer(buckets: readonly number[], counts: ArrayLike<number>): number[] {
  const out: number[] = []
  let keys = 0
  for (const b of buckets) {
    const n = counts[b] ?? 0
    if (out.length > 0 && keys + n > MAX_DIGEST_KEYS) break
    out.push(b)
    keys += n
  }
  return out
}

/**
 * From an answer (the receiver's copies in `buckets`) and this member's copies shared with it: the
 * keys to push (the receiver lacks them or holds them older), and the receiver's keys this member
 * knows ended.
 */
export function compareAnswer(
  mine: readonly HeldRank[],
  buckets: readonly number[],
  theirs: readonly HeldRank[],
  isGone: (key: string) => boolean,
): { push: string[]; ended: string[] } {
  const inBuckets = new Set(buckets)
  const theirRanks = new Map(theirs.map((c) => [c.key, c]))
  const push: string[] = []
  const held = new Set<string>()
  for (const c of mine) {
    if (!inBuckets.has(bucketOf(c.key))) continue
    held.add(c.key)
    const t = theirRanks.get(c.key)
    if (!t || compareRank(c, t) > 0) push.push(c.key)
  }
  const ended = theirs.filter((t) => !held.has(t.key) && isGone(t.key)).map((t) => t.key)
  return { push, ended }
}

export interface AntiEntropyOptions {
  channel: Channel
  contextPath: string
  logger: Logger
  /** Between rounds, ms (manager.antiEntropyInterval; ±25%); 0: no rounds. */
  interval: number
  /** Nothing else is placing copies now (no state transfer, no repair pass due): a round may run. */
  due(): boolean
  /** The manager's counts of sent messages, by type. */
  sent: MessageCounts
  /** This member's writer id. */
  self(): string
  /** The view now (the members that hold sessions, this one among them). */
  view(): PlacementView
  /** Who holds copies of a session under a view. */
  ownersOf: OwnersOf
  /** Is this member ready (it holds its share)? A member that is not ignores digests. */
  ready(): boolean
  /** The copies held (any role), by key. */
  held(): Held
  isGone(key: string): boolean
  member(id: string): Member | undefined
  /** Pushes copies to a member; resolves with those it confirmed. */
  push(to: Member, keys: string[]): Promise<Set<string>>
}

/** Digest messages leave with an ACK (not synchronized: the answer is a message of its own). */
const DIGEST_OPTIONS = SendOption.USE_ACK

export class AntiEntropy {
  readonly #o: AntiEntropyOptions
  readonly counters = {
    antiEntropyRounds: 0,
    /** Digests received that differed from this member's copies in at least one bucket. */
    digestsDiffering: 0,
    /** Digests ignored: another view, or this member not ready. */
    digestsIgnored: 0,
    /** Copies pushed to an owner that lacked them or held them older, and confirmed. */
    copiesRepaired: 0,
    /** Ends sent to an owner that still held the session. */
    endsRepaired: 0,
  }

  #timer: NodeJS.Timeout | undefined
  /** The round under way. */
  #round: Promise<void> | undefined
  #stopped = false
  /** The view last seen by a tick (its hash), and since when it holds. */
  #seenView: number | undefined
  #viewSince = 0

  constructor(options: AntiEntropyOptions) {
    this.#o = options
  }

  /** Rounds from now on, the first within an interval. */
  start(): void {
    this.#next(this.#jittered())
  }

  /** No more rounds, and the one under way is over. */
  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    await this.#round
  }

  #jittered(): number {
    return this.#o.interval * (0.75 + Math.random() / 2)
  }

  #next(delay: number): void {
    if (this.#o.interval <= 0 || this.#stopped) return
    this.#timer = setTimeout(() => this.#tick(), delay)
    this.#timer.unref()
  }

  /** A round when the view held VIEW_SETTLE_MS and nothing else places copies; else soon again. */
  #tick(): void {
    const view = viewHash(this.#o.view())
    const now = Date.now()
    if (view !== this.#seenView) {
      this.#seenView = view
      this.#viewSince = now
    }
    if (now - this.#viewSince < VIEW_SETTLE_MS || !this.#o.due()) {
      this.#next(Math.min(this.#o.interval, 1_000))
      return
    }
    this.#round = this.round()
      .catch((err) => this.#o.logger.warn({ err: (err as Error).message }, 'anti-entropy round failed'))
      .finally(() => {
        this.#round = undefined
        this.#next(this.#jittered())
      })
  }

  /** What a walk over this member's copies needs, now. */
  #walk(): Walk {
    return { view: this.#o.view(), ownersOf: this.#o.ownersOf, self: this.#o.self(), held: this.#o.held() }
  }

  /** Sends this member's digest to every other member of the view. */
  async round(): Promise<void> {
    const w = this.#walk()
    const { view, self } = w
    const shared = await digests(w)
    this.counters.antiEntropyRounds++
    const hash = viewHash(view)
    await Promise.all(
      view.members.map(async (id) => {
        if (id === self) return
        const to = this.#o.member(id)
        if (!to) return
        const sums = Array.from(shared.get(id)?.sums ?? new Uint32Array(DIGEST_BUCKETS))
        await this.#send(to, {
          k: SESSION_MESSAGE,
          type: 'digest',
          ctx: this.#o.contextPath,
          view: hash,
          sums,
        })
      }),
    )
  }

  /** A digest or an answer from another member (rejects, naming what is wrong, when malformed). */
  async receive(m: DigestMessage, from: Member): Promise<void> {
    if (this.#stopped) return
    if (m.type === 'digest') return this.#digest(m, from)
    return this.#answer(m, from)
  }

  /** A digest: the buckets that differ are answered with this member's copies there. */
  async #digest(m: DigestMessage & { type: 'digest' }, from: Member): Promise<void> {
    if (!Array.isArray(m.sums) || m.sums.length !== DIGEST_BUCKETS || !m.sums.every(Number.isInteger))
      throw new Error(`malformed digest message: sums must be ${DIGEST_BUCKETS} numbers`)
    const w = this.#walk()
    const peer = writerIdOf(w.view, from)
    if (!this.#o.ready() || m.view !== viewHash(w.view) || peer === undefined) {
      this.counters.digestsIgnored++
      return
    }
    const mine = (await digests(w, peer)).get(peer) ?? {
      sums: new Uint32Array(DIGEST_BUCKETS),
      counts: new Uint32Array(DIGEST_BUCKETS),
    }
    const differ = differingBuckets(mine.sums, m.sums, Math.floor(Math.random() * DIGEST_BUCKETS))
    if (differ.length === 0) return
    this.counters.digestsDiffering++
    const buckets = bucketsToAnswer(differ, mine.counts)
    const copies = await copiesIn(this.#walk(), peer, new Set(buckets))
    await this.#send(from, {
      k: SESSION_MESSAGE,
      type: 'digest-keys',
      ctx: this.#o.contextPath,
      view: m.view,
      buckets,
      keys: copies.map((c) => c.key),
      versions: copies.map((c) => c.version),
      writers: copies.map((c) => c.writer),
    })
  }

  /** An answer: the copies its sender lacks or holds older are pushed, its ended sessions ended. */
  async #answer(m: DigestMessage & { type: 'digest-keys' }, from: Member): Promise<void> {
    const theirs = answerCopies(m)
    const w = this.#walk()
    const peer = writerIdOf(w.view, from)
    if (m.view !== viewHash(w.view) || peer === undefined) {
      this.counters.digestsIgnored++
      return
    }
    const mine = await copiesIn(w, peer, new Set(m.buckets))
    const { push, ended } = compareAnswer(mine, m.buckets, theirs, (k) => this.#o.isGone(k))
    const sends: Promise<unknown>[] = []
    if (push.length > 0)
      sends.push(
        this.#o.push(from, push).then((confirmed) => (this.counters.copiesRepaired += confirmed.size)),
      )
    if (ended.length > 0) {
      this.#o.sent.expired += ended.length
      const messages = ended.map((id) => ({ type: 'expired', id }))
      sends.push(
        this.#send(from, { k: SESSION_MESSAGE, type: 'batch', ctx: this.#o.contextPath, messages }).then(
          (ok) => {
            if (ok) this.counters.endsRepaired += ended.length
          },
        ),
      )
    }
    await Promise.all(sends)
  }

  /** Sends one message; false when it failed (the next round tries again). */
  async #send(to: Member, message: SessionMessage): Promise<boolean> {
    this.#o.sent[message.type]++
    try {
      await this.#o.channel.send(to, message, DIGEST_OPTIONS)
      return true
    } catch {
      return false
    }
  }
}

/** The member's writer id when it is in `view`. */
function writerIdOf(view: PlacementView, m: Member): string | undefined {
  const id = writerOf(m)
  return view.has(id) ? id : undefined
}

/** The copies of an answer, checked: a malformed answer is refused whole with what is wrong. */
function answerCopies(m: DigestMessage & { type: 'digest-keys' }): HeldRank[] {
  const { buckets, keys, versions, writers } = m
  const bad = (what: string) => new Error(`malformed digest-keys message: ${what}`)
  if (!Array.isArray(buckets) || !buckets.every((b) => Number.isInteger(b) && b >= 0 && b < DIGEST_BUCKETS))
    throw bad(`buckets must be integers from 0 to ${DIGEST_BUCKETS - 1}`)
  if (!Array.isArray(keys) || !Array.isArray(versions) || !Array.isArray(writers))
    throw bad('keys, versions and writers must be lists')
  if (keys.length > MAX_DIGEST_KEYS) throw bad(`${keys.length} keys, more than ${MAX_DIGEST_KEYS}`)
  if (versions.length !== keys.length || writers.length !== keys.length)
    throw bad('keys, versions and writers must be as long as each other')
  return keys.map((key, i) => {
    const version = versions[i]
    const writer = writers[i]
    if (typeof key !== 'string' || !Number.isSafeInteger(version) || typeof writer !== 'string')
      throw bad(`entry ${i} must be a key, an integer version and a writer`)
    return { key, version: version as number, writer }
  })
}
