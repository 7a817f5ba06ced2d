/**
 * The node configuration (node/config schema) a SessionCluster renders into its ConfigMap. The node's
 * name is not in it: each pod sets CATTERY_NAME from its own name (the jvmRoute), and its receiver
 * address from its pod IP.
 */
import { stringify } from 'yaml'
import type { SessionCluster } from '../api/session-cluster.ts'
import { farmConfig } from './farm.ts'
import { ports } from './meta.ts'

export function nodeConfig(sc: SessionCluster): Record<string, unknown> {
  const s = sc.spec
  const m = s.membership
  return {
    domain: s.domain || `${sc.metadata.namespace}.${sc.metadata.name}`,
    // The announced address is the pod's IP (CATTERY_POD_IP, from the downward API).
    receiver: { host: '0.0.0.0', port: s.channel.receiverPort, autoBind: 1 },
    http: { host: '0.0.0.0', port: ports.http },
    admin: { host: '0.0.0.0', port: ports.admin },
    membership:
      m.type === 'multicast'
        ? {
            type: 'multicast',
            address: m.address,
            port: m.port,
            frequency: m.frequency,
            dropTime: m.dropTime,
          }
        : { type: 'kubernetes' },
    manager: s.manager,
    session: s.session,
    channel: { sendOptions: s.channel.sendOptions, interceptors: s.channel.interceptors },
    jvmRouteBinder: { enabled: s.jvmRouteBinder },
    farm: farmConfig(sc),
  }
}

export const nodeConfigYaml = (sc: SessionCluster): string => stringify(nodeConfig(sc), { lineWidth: 0 })
