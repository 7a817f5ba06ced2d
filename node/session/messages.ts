/**
 * The replicated managers' messages (Tomcat's SessionMessage types), as channel payloads. `ctx` names the
 * context (application) whose manager handles it; `v` is the session version after the change, `w`
 * the member that made it (absent: '') and `b` the member that made the version it was based on (rank.ts: a
 * member applies a change only when `b` made the copy it holds; absent `b`: a member that predates
 * the rule sent it, and it is applied as the next version whatever its base).
 */
import type { DeltaAction } from './delta-request.ts'
import type { SessionData } from './session.ts'

export const SESSION_MESSAGE = 'cattery.session'

export type SessionMessage =
  | { k: typeof SESSION_MESSAGE; type: 'created'; ctx: string; session: SessionData }
  | {
      k: typeof SESSION_MESSAGE
      type: 'delta'
      ctx: string
      id: string
      v: number
      w?: string
      b?: string
      /**
       * The version the change builds on, when it is not `v - 1`: a batch merged the consecutive
       * deltas of one session from `p + 1` to `v` into this one (replication-batch.ts).
       */
      p?: number
      a: number
      actions: DeltaAction[]
    }
  | { k: typeof SESSION_MESSAGE; type: 'expired'; ctx: string; id: string }
  | { k: typeof SESSION_MESSAGE; type: 'accessed'; ctx: string; id: string; a: number }
  | {
      k: typeof SESSION_MESSAGE
      type: 'change-id'
      ctx: string
      id: string
      newId: string
      v: number
      w?: string
      b?: string
    }
  /**
   * A joiner asks for its state. `donors` and `sent` (BackupManager, writer ids): the donors it asks,
   * and those of this donor's earlier transfer, so that each session is sent once (joiner-share.ts).
   */
  | {
      k: typeof SESSION_MESSAGE
      type: 'get-all'
      ctx: string
      transfer: number
      donors?: string[]
      sent?: string[]
      /** The joiner reads sessions packed as tuples (SessionTuple); absent: as objects. */
      packed?: boolean
    }
  | {
      k: typeof SESSION_MESSAGE
      type: 'all-data'
      ctx: string
      transfer: number
      page: number
      /**
       * Each session encoded on its own (codec.ts), so one that cannot be encoded is left out: a
       * SessionTuple when the request said `packed`, else a SessionData object.
       */
      sessions: Uint8Array[]
    }
  /** One chunk of a session larger than a page (transfer-pages.ts): `total` bytes in `count` chunks. */
  | {
      k: typeof SESSION_MESSAGE
      type: 'all-data-chunk'
      ctx: string
      transfer: number
      index: number
      count: number
      total: number
      bytes: Uint8Array
    }
  | {
      k: typeof SESSION_MESSAGE
      type: 'transfer-complete'
      ctx: string
      transfer: number
      pages: number
      /** Sessions sent: the joiner checks it received as many. */
      sessions: number
      /** Sessions the donor could not encode and left out (reported in its log and stats). */
      skipped?: number
      /** Set when the donor could not finish: why (the joiner tries again, this or another donor). */
      error?: string
    }
  | { k: typeof SESSION_MESSAGE; type: 'no-context-manager'; ctx: string; transfer: number }
  /** A member saw the receiver come back after a gap: the receiver should re-sync from it. */
  | { k: typeof SESSION_MESSAGE; type: 'resync-request'; ctx: string }
  /**
   * Asks for a full copy of a session at least as new as (v, w) (session-fetch.ts): read-your-writes
   * waited for it, or a change from another branch ranks higher than the copy held.
   */
  | { k: typeof SESSION_MESSAGE; type: 'session-request'; ctx: string; id: string; v: number; w: string }
  /** The answer: the copy held here when it ranks at least as asked, else no session. */
  | { k: typeof SESSION_MESSAGE; type: 'session-copy'; ctx: string; id: string; session?: SessionData }
  /**
   * BackupManager (backup-manager.ts): full copies pushed to the members that own them now (repair
   * after a membership change, a stopping member's hand-off). Sent with a synchronous ACK: its
   * success means the receiver holds each copy at least at that rank.
   */
  | { k: typeof SESSION_MESSAGE; type: 'backup'; ctx: string; sessions: SessionData[] }
  /**
   * BackupManager: the sender is stopping; the receiver takes it out of this context's placement at
   * once (synchronous ACK: once acknowledged, the receiver sends it no session and asks it for none).
   */
  | { k: typeof SESSION_MESSAGE; type: 'leaving'; ctx: string }
  /**
   * BackupManager anti-entropy (anti-entropy.ts): per bucket of keys, the sum of the hashes (key and
   * rank) of the sessions the sender and the receiver both own under the view whose hash is `view`.
   */
  | { k: typeof SESSION_MESSAGE; type: 'digest'; ctx: string; view: number; sums: number[] }
  /** The answer for the buckets that differ: the answering member's sessions there, with their ranks. */
  | {
      k: typeof SESSION_MESSAGE
      type: 'digest-keys'
      ctx: string
      view: number
      buckets: number[]
      keys: string[]
      versions: number[]
      writers: string[]
    }
  /** Asynchronous messages of one event-loop turn (see replication-batch.ts). */
  | { k: typeof SESSION_MESSAGE; type: 'batch'; ctx: string; messages: unknown[] }

/**
 * BackupManager map membership (map-members.ts; Tomcat's AbstractReplicatedMap keeps its map members
 * so): the sender has this context started (`present: true`) or stopped it (`present: false`).
 * `ask`: the sender starts, or a member appeared, so the receiver answers with its own presence (to
 * the sender only, without `ask`) when its BackupManager for `ctx` runs. A member without the context
 * neither records nor answers. Apart from SessionMessage: a membership notice that only the
 * BackupManager reads, and that a member without the context acknowledges (node/cluster/cluster.ts).
 */
export interface MapMemberMessage {
  k: typeof SESSION_MESSAGE
  type: 'map-member'
  ctx: string
  present: boolean
  ask?: boolean
}

export type SessionMessageType = SessionMessage['type'] | MapMemberMessage['type']

/** Messages sent or received, by type. */
export type MessageCounts = Record<SessionMessageType, number>

export const newMessageCounts = (): MessageCounts => ({
  created: 0,
  delta: 0,
  expired: 0,
  accessed: 0,
  'change-id': 0,
  'get-all': 0,
  'all-data': 0,
  'all-data-chunk': 0,
  'transfer-complete': 0,
  'no-context-manager': 0,
  'resync-request': 0,
  'session-request': 0,
  'session-copy': 0,
  backup: 0,
  leaving: 0,
  digest: 0,
  'digest-keys': 0,
  batch: 0,
  'map-member': 0,
})

export function isSessionMessage(p: unknown): p is SessionMessage {
  return (
    typeof p === 'object' &&
    p !== null &&
    (p as { k?: unknown }).k === SESSION_MESSAGE &&
    typeof (p as { ctx?: unknown }).ctx === 'string' &&
    typeof (p as { type?: unknown }).type === 'string'
  )
}

/** A map-member notice: a session message of that type (its fields are checked where it is read). */
export const isMapMember = (p: unknown): p is MapMemberMessage =>
  isSessionMessage(p) && (p as { type: string }).type === 'map-member'
