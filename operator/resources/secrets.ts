/**
 * The per-cluster Secret `<name>-secrets`: the cluster secret every member proves it holds (the
 * channel's authentication and encryption key; during a rotation up to 4, one per line) and the admin
 * token of the nodes' admin servers. Random, so not a pure function of the SessionCluster: the
 * reconciler creates it once, with bytes it is given, and never rewrites it (nothing rotates
 * silently). A user's edit rolls the pods: the pod template carries secretsChecksum of its data
 * (docs/security.md says how to rotate).
 */
import { createHash } from 'node:crypto'
import type { SessionCluster } from '../api/session-cluster.ts'
import { metadata, names, secretFiles } from './meta.ts'

/** Entropy the Secret is made of: 32 bytes each, from crypto.randomBytes in the reconciler. */
export interface SecretBytes {
  clusterSecret: Buffer
  adminToken: Buffer
}

export function clusterSecrets(sc: SessionCluster, bytes: SecretBytes) {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: metadata(sc, names(sc).secrets),
    type: 'Opaque',
    stringData: {
      [secretFiles.clusterSecret]: bytes.clusterSecret.toString('base64url'),
      [secretFiles.adminToken]: bytes.adminToken.toString('base64url'),
    },
  }
}

/**
 * SHA-256 (hex) of the Secret's `cluster-secret` and `admin-token` data (base64, as the API returns
 * it): the pod template's `cattery.dev/secrets-checksum`, so a change of either rolls the pods.
 */
export function secretsChecksum(data: Record<string, string> | undefined): string {
  const h = createHash('sha256')
  for (const key of [secretFiles.clusterSecret, secretFiles.adminToken])
    h.update(`${key}=${data?.[key] ?? ''}\n`)
  return h.digest('hex')
}
