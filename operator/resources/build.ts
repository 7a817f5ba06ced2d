/**
 * Pure builders: a SessionCluster becomes the objects the operator applies (server-side apply):
 * a StatefulSet (stable pod names are the jvmRoutes), a headless Service for peers that publishes
 * not-ready addresses, a client Service, the node ConfigMap, a NetworkPolicy, a PodDisruptionBudget,
 * and for the nodes a ServiceAccount with the least RBAC they need (read their own SessionCluster,
 * where the peer list is). The random Secret the pods mount is made apart (secrets.ts); what the
 * builders know of it is its checksum, an input, so that editing the Secret rolls the pods.
 */
import { createHash } from 'node:crypto'
import { GROUP, PLURAL, type SessionCluster } from '../api/session-cluster.ts'
import { farmVolumeMounts, farmVolumes } from './farm.ts'
import { labels, metadata, names, podAnnotations, ports, secretFiles, selectorLabels } from './meta.ts'
import { networkPolicy, type OperatorLocation } from './network-policy.ts'
import { nodeConfigYaml } from './node-config.ts'

/** Seconds a pod gets to stop: the preStop pause, draining queued replication (5 s), and leaving. */
const PRE_STOP_SECONDS = 5
const TERMINATION_GRACE_SECONDS = 30

function configMap(sc: SessionCluster) {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: metadata(sc, names(sc).config),
    data: { 'node.yaml': nodeConfigYaml(sc) },
  }
}

/** What the builders are given besides the SessionCluster: what the reconciler read of the Secret. */
export interface BuildInputs {
  /** secretsChecksum of the Secret `<name>-secrets` (secrets.ts). */
  secretsChecksum: string
  /** Where the operator runs, when it runs in a pod (its NetworkPolicy rule to the admin port). */
  operator?: OperatorLocation
}

export function statefulSet(sc: SessionCluster, inputs: BuildInputs) {
  const n = names(sc)
  const pod = sc.spec.pod ?? {}
  // A change of configuration or of the Secret rolls the pods: the template carries their hashes.
  const configHash = createHash('sha256').update(nodeConfigYaml(sc)).digest('hex').slice(0, 16)
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: metadata(sc, n.statefulSet),
    spec: {
      replicas: sc.spec.replicas,
      serviceName: n.peers,
      // One at a time, each Ready only after state transfer: a new pod never serves without sessions.
      podManagementPolicy: 'OrderedReady',
      // A rollout (a new image, configuration or Secret) replaces one pod at a time, and the next only
      // once the replacement is Ready, that is holds the sessions (its /readyz waits for state
      // transfer): at most one pod's copies are ever missing. Said here rather than left to the
      // defaults: partition 0 updates every pod; maxUnavailable 1 (honoured where the
      // MaxUnavailableStatefulSet gate is on, beta and off by default in 1.35; the controller then
      // replaces one pod at a time anyway).
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0, maxUnavailable: 1 } },
      selector: { matchLabels: selectorLabels(sc) },
      template: {
        metadata: {
          labels: { ...pod.labels, ...labels(sc) },
          annotations: {
            ...pod.annotations,
            [podAnnotations.configHash]: configHash,
            [podAnnotations.secretsChecksum]: inputs.secretsChecksum,
          },
        },
        spec: {
          serviceAccountName: n.serviceAccount,
          terminationGracePeriodSeconds: TERMINATION_GRACE_SECONDS,
          ...(pod.nodeSelector ? { nodeSelector: pod.nodeSelector } : {}),
          ...(pod.tolerations ? { tolerations: pod.tolerations } : {}),
          ...(pod.affinity ? { affinity: pod.affinity } : {}),
          // Pod Security "restricted": non-root (the image's 1000), RuntimeDefault seccomp, no
          // capabilities; fsGroup lets that user read the mounted secrets.
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 1000,
            runAsGroup: 1000,
            fsGroup: 1000,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [
            {
              name: 'node',
              image: sc.spec.image,
              args: ['--config', '/etc/cattery/config/node.yaml'],
              env: [
                { name: 'CATTERY_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'CATTERY_POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
                { name: 'CATTERY_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                { name: 'CATTERY_CLUSTER', value: sc.metadata.name },
                {
                  name: 'CATTERY_CLUSTER_SECRET_FILE',
                  value: `${secretFiles.dir}/${secretFiles.clusterSecret}`,
                },
                { name: 'CATTERY_ADMIN_TOKEN_FILE', value: `${secretFiles.dir}/${secretFiles.adminToken}` },
              ],
              ports: [
                { name: 'http', containerPort: ports.http },
                { name: 'admin', containerPort: ports.admin },
                { name: 'replication', containerPort: sc.spec.channel.receiverPort },
              ],
              readinessProbe: {
                httpGet: { path: '/readyz', port: 'admin' },
                periodSeconds: 2,
                failureThreshold: 1,
              },
              livenessProbe: {
                httpGet: { path: '/livez', port: 'admin' },
                periodSeconds: 10,
                failureThreshold: 3,
              },
              // Endpoints stop sending traffic before the node drains on SIGTERM.
              lifecycle: { preStop: { sleep: { seconds: PRE_STOP_SECONDS } } },
              ...(sc.spec.resources ? { resources: sc.spec.resources } : {}),
              volumeMounts: [
                { name: 'config', mountPath: '/etc/cattery/config', readOnly: true },
                { name: 'secrets', mountPath: secretFiles.dir, readOnly: true },
                ...farmVolumeMounts(sc),
              ],
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
            },
          ],
          volumes: [
            { name: 'config', configMap: { name: n.config } },
            { name: 'secrets', secret: { secretName: n.secrets, defaultMode: 0o440 } },
            ...farmVolumes(sc),
          ],
        },
      },
    },
  }
}

function peerService(sc: SessionCluster) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(sc, names(sc).peers),
    spec: {
      clusterIP: 'None',
      // Peers must find each other before they are Ready: readiness waits for state transfer.
      publishNotReadyAddresses: true,
      selector: selectorLabels(sc),
      ports: [{ name: 'replication', port: sc.spec.channel.receiverPort, targetPort: 'replication' }],
    },
  }
}

function clientService(sc: SessionCluster) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(sc, names(sc).service),
    spec: {
      type: sc.spec.service.type,
      sessionAffinity: sc.spec.service.sessionAffinity,
      selector: selectorLabels(sc),
      ports: [{ name: 'http', port: sc.spec.service.port, targetPort: 'http' }],
    },
  }
}

/**
 * Voluntary disruptions allowed at once: spec.podDisruptionBudget.maxUnavailable, and with the
 * BackupManager at most its backups (k): a session is held by 1 + k pods, so k pods may be down.
 */
function podDisruptionBudget(sc: SessionCluster) {
  if (!sc.spec.podDisruptionBudget.enabled) return undefined
  const { maxUnavailable } = sc.spec.podDisruptionBudget
  const { type, backups } = sc.spec.manager
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: metadata(sc, names(sc).pdb),
    spec: {
      maxUnavailable: type === 'backup' ? Math.min(maxUnavailable, backups) : maxUnavailable,
      selector: { matchLabels: selectorLabels(sc) },
    },
  }
}

function nodeRbac(sc: SessionCluster) {
  const n = names(sc)
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: metadata(sc, n.serviceAccount) },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: metadata(sc, n.role),
      // Only its own SessionCluster (its status lists the members), read-only.
      rules: [
        {
          apiGroups: [GROUP],
          resources: [PLURAL],
          resourceNames: [sc.metadata.name],
          verbs: ['get', 'list', 'watch'],
        },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: metadata(sc, n.role),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: n.role },
      subjects: [{ kind: 'ServiceAccount', name: n.serviceAccount, namespace: sc.metadata.namespace }],
    },
  ]
}

/** Everything a SessionCluster should own, in apply order. */
export function desiredResources(sc: SessionCluster, inputs: BuildInputs): Array<Record<string, unknown>> {
  const pdb = podDisruptionBudget(sc)
  return [
    ...nodeRbac(sc),
    configMap(sc),
    peerService(sc),
    clientService(sc),
    statefulSet(sc, inputs),
    networkPolicy(sc, inputs.operator),
    ...(pdb ? [pdb] : []),
  ]
}
