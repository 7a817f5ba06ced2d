/**
 * The keys of a cluster secret (docs/security.md). Everything is derived with HKDF-SHA256 from a
 * pre-shared secret: the handshake's proof key, the multicast tag key and the key id once per channel,
 * the traffic keys once per connection (salted with both nonces, so no two connections share a key).
 * A secret must be at least MIN_SECRET_CHARS characters: proofs are HMACs an eavesdropper sees, so a
 * short secret could be guessed offline.
 *
 * During a rotation a member holds a key ring: up to MAX_SECRETS secrets, the first the primary (the
 * one it proves and tags with), the others only accepted. A secret is named on the wire by its key id
 * (KEY_ID_BYTES of an HMAC under a key derived from it), never by the secret itself.
 */
import { createHmac, hkdfSync } from 'node:crypto'
import { CatteryError, codes } from '../errors.ts'

export const MIN_SECRET_CHARS = 32
/** Secrets one member holds at once (docs/security.md, "Rotating the secret"). */
export const MAX_SECRETS = 4
export const KEY_ID_BYTES = 8

export interface ClusterKeys {
  /** The secret itself: input of the per-connection traffic keys. */
  readonly secret: Buffer
  /** Names this secret in the handshake (not secret: an HMAC under a key derived from it). */
  readonly id: Buffer
  /** HMAC key of the TCP handshake proofs. */
  readonly auth: Buffer
  /** HMAC key of multicast heartbeat tags. */
  readonly multicast: Buffer
}

/** The secrets a member holds, the primary first (1 to MAX_SECRETS). */
export type KeyRing = readonly [ClusterKeys, ...ClusterKeys[]]

export type SecretInput = Buffer | string

/** Derives the keys of one secret; refuses one that is too short (`what` names it in the error). */
export function clusterKeys(secret: SecretInput, what = 'the cluster secret'): ClusterKeys {
  const s = typeof secret === 'string' ? Buffer.from(secret.trim(), 'utf8') : Buffer.from(secret)
  if (s.length < MIN_SECRET_CHARS) {
    throw new CatteryError(
      codes.CLUSTER_SECRET,
      `${what} has ${s.length} characters; at least ${MIN_SECRET_CHARS} are needed (make one with: head -c 32 /dev/urandom | base64)`,
    )
  }
  return {
    secret: s,
    id: createHmac('sha256', derive(s, '', 'cattery v1 key id'))
      .update('cattery key id')
      .digest()
      .subarray(0, KEY_ID_BYTES),
    auth: derive(s, '', 'cattery v1 auth'),
    multicast: derive(s, '', 'cattery v1 multicast'),
  }
}

/** The key ring of one secret or a list of them (the primary first); refuses none or too many. */
export function keyRing(secrets: SecretInput | readonly SecretInput[]): KeyRing {
  const list = Array.isArray(secrets) ? (secrets as readonly SecretInput[]) : [secrets as SecretInput]
  if (list.length === 0 || list.length > MAX_SECRETS) {
    throw new CatteryError(
      codes.CLUSTER_SECRET,
      `${list.length} cluster secrets given; between 1 and ${MAX_SECRETS} are accepted (the first is the one this member uses)`,
    )
  }
  const what = (i: number) => (list.length === 1 ? 'the cluster secret' : `cluster secret ${i + 1}`)
  const [first, ...rest] = list.map((s, i) => clusterKeys(s, what(i)))
  return [first as ClusterKeys, ...rest]
}

/** The keys of the ring whose key id is `id`, if this member holds that secret. */
export const keysWithId = (ring: KeyRing, id: Buffer): ClusterKeys | undefined =>
  ring.find((k) => k.id.equals(id))

export function derive(secret: Buffer, salt: Buffer | string, info: Buffer | string, bytes = 32): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, salt, info, bytes))
}
