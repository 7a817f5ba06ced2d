/**
 * Whether a channel may run, and how: with the cluster secret ('secret'); without one because every
 * peer it can reach is on this host ('none (loopback)': a receiver on 127.0.0.0/8, ::1 or localhost,
 * with membership that is not multicast); or without one because the operator said so ('insecure').
 * A receiver reachable from the network (or multicast membership) without a secret and without the
 * opt-out is refused: the caller turns that into its own error (a config error for the node, a
 * CatteryError for library users).
 */
import { isIPv4 } from 'node:net'

export type SecurityMode = 'secret' | 'insecure' | 'none (loopback)'

function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase()
  if (h === 'localhost' || h === '::1' || h === '[::1]') return true
  return isIPv4(h) && h.startsWith('127.')
}

export interface PolicyInput {
  receiverHost: string
  membership: string
  hasSecret: boolean
  insecure: boolean
}

/** The mode, or undefined when the channel must not start (reachable, no secret, no opt-out). */
export function securityMode(i: PolicyInput): SecurityMode | undefined {
  if (i.hasSecret) return 'secret'
  if (i.insecure) return 'insecure'
  if (isLoopbackHost(i.receiverHost) && i.membership !== 'multicast') return 'none (loopback)'
  return undefined
}

/** What to tell the user who has to make a secret. */
export const HOW_TO_MAKE_A_SECRET =
  'make one with `head -c 32 /dev/urandom | base64 > /etc/cattery/cluster-secret` and pass ' +
  '`--cluster-secret-file /etc/cattery/cluster-secret` (CATTERY_CLUSTER_SECRET_FILE) to every member, ' +
  'or `--insecure-cluster` to run unauthenticated on a network you trust'
