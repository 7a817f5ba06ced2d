/**
 * The NetworkPolicy of a SessionCluster's pods: the replication port (and, with multicast membership,
 * the heartbeat port) only from the cluster's own pods; HTTP and admin from pods of the same
 * namespace; and the admin port from the operator's own pods, wherever their namespace, when the
 * operator runs in a pod and knows where (its member prober reads each pod's /status). Egress is not
 * restricted (nodes reach the API server and each other). A CNI that does not enforce NetworkPolicy
 * (like the bridge of `make kube-up`) ignores it; the channel's authentication protects the
 * replication port either way, and the admin token everything on the admin port but health.
 */
import type { SessionCluster } from '../api/session-cluster.ts'
import { metadata, names, ports, selectorLabels } from './meta.ts'

/** The operator's pods: their namespace (POD_NAMESPACE) and labels (--operator-pod-selector). */
export interface OperatorLocation {
  namespace: string
  podLabels: Record<string, string>
}

export function networkPolicy(sc: SessionCluster, operator?: OperatorLocation) {
  const own = { podSelector: { matchLabels: selectorLabels(sc) } }
  const replication = [{ protocol: 'TCP', port: sc.spec.channel.receiverPort }]
  if (sc.spec.membership.type === 'multicast')
    replication.push({ protocol: 'UDP', port: sc.spec.membership.port })
  const admin = { protocol: 'TCP', port: ports.admin }
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: metadata(sc, names(sc).networkPolicy),
    spec: {
      podSelector: { matchLabels: selectorLabels(sc) },
      policyTypes: ['Ingress'],
      ingress: [
        { from: [own], ports: replication },
        { from: [{ podSelector: {} }], ports: [{ protocol: 'TCP', port: ports.http }, admin] },
        ...(operator && Object.keys(operator.podLabels).length
          ? [
              {
                from: [
                  {
                    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': operator.namespace } },
                    podSelector: { matchLabels: operator.podLabels },
                  },
                ],
                ports: [admin],
              },
            ]
          : []),
      ],
    },
  }
}
