import type { EventEmitter } from 'node:events'
import type { Member } from './member.ts'
import type { LastHeard } from './membership/service.ts'

/** What a received message looks like to a channel listener. */
export interface ReceivedMessage {
  /** The sending member. */
  readonly from: Member
  /** The send options the sender used. */
  readonly options: number
  /** The decoded body (whatever the sender passed to `send`, through msgpackr). */
  readonly payload: unknown
}

/**
 * A channel listener. `messageReceived` may return a promise: with SYNCHRONIZED_ACK the sender's
 * `send` resolves only after every listener's promise settled (and fails if one rejected).
 */
export interface ChannelListener {
  accept?(message: ReceivedMessage): boolean
  messageReceived(message: ReceivedMessage): void | Promise<void>
}

export interface ChannelStats {
  messagesSent: number
  messagesReceived: number
  bytesSent: number
  bytesReceived: number
  sendFailures: number
  /** Refusals by code: bad frames, failed authentication, non-members, bad multicast packets. */
  framesRefused: Record<string, number>
  /** 'secret' (authenticated, encrypted), 'insecure' (--insecure-cluster) or 'none (loopback)'. */
  security: 'secret' | 'insecure' | 'none (loopback)'
  /**
   * With a secret: the key ids (hex) of the secrets this member holds, the one it uses first. Not
   * secret; during a rotation every member's first id must be in every member's list.
   */
  secretKeyIds?: string[]
  interceptors: Record<string, Record<string, number>>
}

/** A member of the view with what this node knows of it (the dashboard's and /metrics' member rows). */
export interface MemberDetails {
  readonly member: Member
  /** When it entered this node's view (ms since the epoch). */
  readonly since: number
  /** When and how the membership service last heard from it. */
  readonly lastHeard: LastHeard | undefined
  /** Asynchronous messages and their bytes queued for it (MessageDispatch; 0 without it). */
  readonly queued: number
  readonly queuedBytes: number
}

/**
 * Events: 'memberAdded' (member), 'memberDisappeared' (member, reason), 'sendError' (CatteryError,
 * member) for asynchronous sends that failed after `send` resolved, 'error' is never emitted.
 */
export interface Channel extends EventEmitter {
  readonly localMember: Member
  readonly started: boolean
  /** `sender.asyncWriteInterval`: asynchronous frames to one member are written at most this often (ms). */
  readonly asyncWriteInterval: number
  /** `receiver.maxFrameBytes`: the largest frame (header + body) this member accepts or sends. */
  readonly maxFrameBytes: number
  start(): Promise<void>
  /** Announces the departure (multicast) and closes every connection. */
  stop(): Promise<void>
  /** The members currently seen alive, not including this one. */
  members(): Member[]
  /** Changes whenever members() does (a member added or gone): a cache key for views made of it. */
  readonly viewVersion: number
  /** The same members, each with when it joined the view, when it was last heard from, its queue. */
  memberDetails(): MemberDetails[]
  /**
   * Sends `payload` (any msgpackr value) to `to`. Resolves when the options' guarantee is met:
   * asynchronous — queued; no ACK — handed to TCP; USE_ACK — received; SYNCHRONIZED_ACK — handled.
   * Rejects with ChannelSendError naming the members that failed.
   */
  send(to: Member | Member[], payload: unknown, options?: number): Promise<void>
  /**
   * Sends a payload the caller already encoded with the channel's codec (`encode` of codec.ts), for a
   * caller that needs its size first; receivers decode it as any other payload.
   */
  sendEncoded(to: Member | Member[], body: Uint8Array, options?: number): Promise<void>
  addChannelListener(listener: ChannelListener): void
  removeChannelListener(listener: ChannelListener): void
  /** Marks this member ready (it holds the cluster's state) and tells the others. */
  setReady(ready: boolean): void
  stats(): ChannelStats
}
