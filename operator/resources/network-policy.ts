/**
 * The NetworkPolicy of a SessionCluster's pods: the replication port (and, with multicast membership,
 * the heartbeat port) only from the cluster's own pods; HTTP and admin only from pods of the same
 * namespace. Egress is not restricted (nodes reach the API server and each other). A CNI that does not
 * enforce NetworkPolicy (like the bridge of `make kube-up`) ignores it; the channel's authentication
 * protects the replication port either way.
 */
import type { SessionCluster } from '../api/session-cluster.ts'
import { metadata, names, ports, selectorLabels } from './meta.ts'

export function networkPolicy(sc: SessionCluster) {
  const own = { podSelector: { matchLabels: selectorLabels(sc) } }
  const replication = [{ protocol: 'TCP', port: sc.spec.channel.receiverPort }]
  if (sc.spec.membership.type === 'multicast')
    replication.push({ protocol: 'UDP', port: sc.spec.membership.port })
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: metadata(sc, names(sc).networkPolicy),
    spec: {
      podSelector: { matchLabels: selectorLabels(sc) },
      policyTypes: ['Ingress'],
      ingress: [
        { from: [own], ports: replication },
        {
          from: [{ podSelector: {} }],
          ports: [
            { protocol: 'TCP', port: ports.http },
            { protocol: 'TCP', port: ports.admin },
          ],
        },
      ],
    },
  }
}
