/**
 * The per-cluster Secret `<name>-secrets`: the cluster secret every member proves it holds (the
 * channel's authentication and encryption key) and the admin token of the nodes' admin servers.
 * Random, so not a pure function of the SessionCluster: the reconciler creates it once, with bytes it
 * is given, and never rewrites it (nothing rotates silently; docs/security.md says how to rotate).
 */
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
