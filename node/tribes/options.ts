/**
 * The channel's configuration, with Tomcat/Tribes defaults. The node's config schema (node/config)
 * validates user input into this shape; library users may pass it directly.
 */
import type { Logger } from 'pino'
import type { DynamicMembershipSource } from './membership/dynamic.ts'
import type { SecurityOptions } from './security/channel-security.ts'

export interface ReceiverOptions {
  /** Address to listen on; announced to peers too unless advertiseAddress is set. */
  host: string
  /**
   * Address peers should use, when it differs from the one listened on (a pod's IP from the downward
   * API while listening on 0.0.0.0). Unset: host, or for a wildcard host the first external IPv4.
   */
  advertiseAddress?: string | undefined
  /** First port tried; Tribes' default 4000. */
  port: number
  /** Ports tried: port .. port+autoBind-1 (Tribes' default 100). */
  autoBind: number
  /** Largest frame (header + body) accepted or sent; bigger frames are refused (use Fragmentation). */
  maxFrameBytes: number
  /** A frame must be complete within this many ms of its first byte, or the connection is closed. */
  frameTimeout: number
}

export interface SenderOptions {
  /** Connect and ACK timeout in ms (Tribes' `timeout`, 3000). */
  timeout: number
  /** Further connection attempts after a failed one (Tribes' `maxRetryAttempts`, 1). */
  maxRetryAttempts: number
  /**
   * Asynchronous frames to one member are written at most once per this many ms (10): under load
   * they share writes — the replication lag this adds is the price of far fewer system calls and
   * wake-ups on both sides. 0: every event-loop turn.
   */
  asyncWriteInterval: number
}

export interface StaticMembershipOptions {
  type: 'static'
  /** 'host:port' of every member's receiver (this node's own address may be listed; it is skipped). */
  members: string[]
  /** TCP ping interval in ms (1000). */
  pingInterval: number
  /** A member not answering for this long is dropped (5000 ms). */
  expireTime: number
}

export interface MulticastMembershipOptions {
  type: 'multicast'
  address: string
  port: number
  /** Heartbeat interval in ms (500). */
  frequency: number
  /** A member silent for this long is dropped (3000 ms). */
  dropTime: number
  ttl: number
  /** Interface address to send and receive heartbeats on; default: the receiver host. */
  bind?: string | undefined
}

export interface DynamicMembershipOptions {
  type: 'dynamic'
  /** Where the address list comes from (the Kubernetes provider, or a test). */
  source: DynamicMembershipSource
  pingInterval: number
  expireTime: number
  /**
   * A member of this domain that pings from an address the list does not name yet joins at once
   * (the Kubernetes provider's list reaches each member a little after the new pod's first ping).
   */
  acceptUnlisted?: boolean
}

export interface KubernetesMembershipOptions {
  type: 'kubernetes'
  /** The SessionCluster whose status.members lists the peers, and its namespace. */
  cluster: string
  namespace: string
  apiServer: string
  tokenFile: string
  caFile: string
  pingInterval: number
  expireTime: number
}

export type MembershipOptions =
  | StaticMembershipOptions
  | KubernetesMembershipOptions
  | MulticastMembershipOptions
  | DynamicMembershipOptions

export type InterceptorConfig =
  | { type: 'TcpFailureDetector'; connectTimeout?: number; performConnectTest?: boolean }
  | { type: 'MessageDispatch'; maxQueueSize?: number; alwaysSend?: boolean }
  | { type: 'Throughput'; interval?: number }
  | { type: 'DomainFilter'; domain?: string }
  | { type: 'Order'; expire?: number; forwardExpired?: boolean; maxQueue?: number }
  | { type: 'Fragmentation'; maxSize?: number; expire?: number; maxMessageSize?: number }
  | { type: 'Gzip'; minSize?: number; maxMessageSize?: number }
  | { type: 'Encrypt'; keyFile?: string; keyEnv?: string; replayWindow?: number }
  | { type: 'TcpPing'; interval?: number }

export interface ChannelOptions {
  /** The member's name: the jvmRoute of the node. */
  name: string
  domain: string
  payload?: Uint8Array
  receiver: ReceiverOptions
  sender: SenderOptions
  membership: MembershipOptions
  /** Ordered stack, head first (the first entry sees a send first). */
  interceptors: InterceptorConfig[]
  /** Default flags for `send` when none are given (8: asynchronous). */
  sendOptions: number
  /**
   * The cluster secret (docs/security.md). Required unless the receiver is on loopback with
   * non-multicast membership, or `insecure` is set.
   */
  security?: SecurityOptions | undefined
  logger?: Logger
}

export const defaults = {
  receiver: {
    host: '127.0.0.1',
    port: 4000,
    autoBind: 100,
    maxFrameBytes: 16 * 1024 * 1024,
    frameTimeout: 10_000,
  },
  sender: { timeout: 3000, maxRetryAttempts: 1, asyncWriteInterval: 10 },
  static: { pingInterval: 1000, expireTime: 5000 },
  multicast: { address: '228.0.0.4', port: 45564, frequency: 500, dropTime: 3000, ttl: 1 },
  interceptors: [{ type: 'TcpFailureDetector' }, { type: 'MessageDispatch' }] as InterceptorConfig[],
  sendOptions: 8,
} as const
