/** Names, labels and owner references shared by every object the operator makes for a SessionCluster. */
import { API_VERSION, KIND, type SessionCluster } from '../api/session-cluster.ts'

export const ports = { http: 8080, admin: 9090 } as const

export const names = (sc: SessionCluster) => ({
  statefulSet: sc.metadata.name,
  peers: `${sc.metadata.name}-peers`,
  service: sc.metadata.name,
  config: `${sc.metadata.name}-config`,
  pdb: sc.metadata.name,
  serviceAccount: `${sc.metadata.name}-node`,
  role: `${sc.metadata.name}-node`,
  secrets: `${sc.metadata.name}-secrets`,
  networkPolicy: sc.metadata.name,
})

/** Where a node pod finds the cluster secret and its admin token (the Secret `<name>-secrets`). */
export const secretFiles = {
  dir: '/etc/cattery/secrets',
  clusterSecret: 'cluster-secret',
  adminToken: 'admin-token',
} as const

/** Pod template annotations whose change rolls the pods (the StatefulSet's rolling update). */
export const podAnnotations = {
  /** A hash of the node configuration (the ConfigMap). */
  configHash: 'cattery.dev/config-hash',
  /** SHA-256 of the Secret's data (secrets.ts, secretsChecksum). */
  secretsChecksum: 'cattery.dev/secrets-checksum',
} as const

/** Labels that select the pods of one SessionCluster (also its status.selector). */
export function selectorLabels(sc: SessionCluster): Record<string, string> {
  return { 'app.kubernetes.io/name': 'cattery-node', 'app.kubernetes.io/instance': sc.metadata.name }
}

export function labels(sc: SessionCluster): Record<string, string> {
  return { ...selectorLabels(sc), 'app.kubernetes.io/managed-by': 'cattery-operator' }
}

export function metadata(sc: SessionCluster, name: string) {
  return {
    name,
    namespace: sc.metadata.namespace,
    labels: labels(sc),
    ownerReferences: [
      {
        apiVersion: API_VERSION,
        kind: KIND,
        name: sc.metadata.name,
        uid: sc.metadata.uid ?? '',
        controller: true,
        blockOwnerDeletion: true,
      },
    ],
  }
}

/** status.selector, as the scale subresource wants it. */
export const selectorString = (sc: SessionCluster): string =>
  Object.entries(selectorLabels(sc))
    .map(([k, v]) => `${k}=${v}`)
    .join(',')
