/**
 * The keys of a cluster secret (docs/security.md). Everything is derived with HKDF-SHA256 from the
 * one pre-shared secret: the handshake's proof key and the multicast tag key once per channel, the
 * traffic keys once per connection (salted with both nonces, so no two connections share a key).
 * The secret must be at least MIN_SECRET_CHARS characters: proofs are HMACs an eavesdropper sees, so
 * a short secret could be guessed offline.
 */
import { createSecretKey, hkdfSync, type KeyObject } from 'node:crypto'
import { CatteryError, codes } from '../errors.ts'

export const MIN_SECRET_CHARS = 32

export interface ClusterKeys {
  /** The secret itself: input of the per-connection traffic keys. */
  readonly secret: Buffer
  /** HMAC key of the TCP handshake proofs. */
  readonly auth: Buffer
  /** HMAC key of multicast heartbeat tags. */
  readonly multicast: Buffer
}

/** Derives the channel's keys; refuses a secret that is too short. */
export function clusterKeys(secret: Buffer | string): ClusterKeys {
  const s = typeof secret === 'string' ? Buffer.from(secret.trim(), 'utf8') : Buffer.from(secret)
  if (s.length < MIN_SECRET_CHARS) {
    throw new CatteryError(
      codes.CLUSTER_SECRET,
      `the cluster secret has ${s.length} characters; at least ${MIN_SECRET_CHARS} are needed (make one with: head -c 32 /dev/urandom | base64)`,
    )
  }
  return {
    secret: s,
    auth: derive(s, '', 'cattery v1 auth'),
    multicast: derive(s, '', 'cattery v1 multicast'),
  }
}

export function derive(secret: Buffer, salt: Buffer | string, info: Buffer | string, bytes = 32): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, salt, info, bytes))
}

/** An AES-256-GCM key object (imported once per connection and direction, not per frame). */
export const aesKey = (raw: Buffer): KeyObject => createSecretKey(raw)
