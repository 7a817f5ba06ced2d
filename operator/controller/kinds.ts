/**
 * The kinds the operator watches: the SessionClusters and what they own. Each names its API path, so
 * one generic informer serves them all.
 */
import { API_VERSION, KIND, PLURAL } from '../api/session-cluster.ts'

export interface WatchedKind {
  apiVersion: string
  kind: string
  plural: string
  /** Only objects the operator made (their pods carry the node label instead). */
  labelSelector?: string
}

const MANAGED = 'app.kubernetes.io/managed-by=cattery-operator'

export const SESSION_CLUSTERS: WatchedKind = { apiVersion: API_VERSION, kind: KIND, plural: PLURAL }

/** Owned kinds whose change (or deletion) makes the owner reconcile. */
export const OWNED_KINDS: WatchedKind[] = [
  { apiVersion: 'apps/v1', kind: 'StatefulSet', plural: 'statefulsets', labelSelector: MANAGED },
  { apiVersion: 'v1', kind: 'Pod', plural: 'pods', labelSelector: 'app.kubernetes.io/name=cattery-node' },
  { apiVersion: 'v1', kind: 'Service', plural: 'services', labelSelector: MANAGED },
  { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', labelSelector: MANAGED },
  {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    plural: 'poddisruptionbudgets',
    labelSelector: MANAGED,
  },
  // Watched so that a user's edit of the cluster's Secret (a secret rotation) reconciles at once and
  // rolls the pods. Only the operator's own (labelled) Secrets are listed and cached, but RBAC cannot
  // narrow list/watch by label: the operator may read every Secret of a watched namespace.
  { apiVersion: 'v1', kind: 'Secret', plural: 'secrets', labelSelector: MANAGED },
  // Watched so that the ownership check before each apply reads a cache, not the API.
  { apiVersion: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', labelSelector: MANAGED },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', plural: 'roles', labelSelector: MANAGED },
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    plural: 'rolebindings',
    labelSelector: MANAGED,
  },
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    plural: 'networkpolicies',
    labelSelector: MANAGED,
  },
]

/** The collection path of a kind, in one namespace or (namespace '') in all. */
export function collectionPath(k: WatchedKind, namespace: string): string {
  const base = k.apiVersion.includes('/') ? `/apis/${k.apiVersion}` : `/api/${k.apiVersion}`
  return namespace ? `${base}/namespaces/${namespace}/${k.plural}` : `${base}/${k.plural}`
}
