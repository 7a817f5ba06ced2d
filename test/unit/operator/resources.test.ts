import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parse } from 'yaml'
import { loadConfig } from '../../../node/config/load.ts'
import {
  type SessionCluster,
  type SessionClusterSpec,
  withDefaults,
} from '../../../operator/api/session-cluster.ts'
import { desiredResources, statefulSet } from '../../../operator/resources/build.ts'
import { nodeConfig } from '../../../operator/resources/node-config.ts'
import { clusterSecrets, secretsChecksum } from '../../../operator/resources/secrets.ts'

const cluster = (spec: Partial<SessionClusterSpec> = {}): SessionCluster => ({
  apiVersion: 'cattery.dev/v1alpha1',
  kind: 'SessionCluster',
  metadata: { name: 'shop', namespace: 'prod', uid: 'u-1', generation: 1 },
  spec: withDefaults(spec),
})

// biome-ignore lint/suspicious/noExplicitAny: built objects are read freely
type Obj = Record<string, any>

const b64 = (s: string) => Buffer.from(s).toString('base64')
const SECRET_DATA = { 'cluster-secret': b64('o'.repeat(43)), 'admin-token': b64('t'.repeat(43)) }
const inputs = { secretsChecksum: secretsChecksum(SECRET_DATA) }

const find = (sc: SessionCluster, kind: string, name?: string) =>
  desiredResources(sc, inputs).find((o: Obj) => o.kind === kind && (!name || o.metadata.name === name)) as
    | Obj
    | undefined

describe('resources of a SessionCluster', () => {
  const table: Array<[string, Partial<SessionClusterSpec>, (sc: SessionCluster) => void]> = [
    [
      'defaults: 3 replicas, ordered start, probes on the admin port, preStop pause, config mounted',
      {},
      (sc) => {
        const sts = find(sc, 'StatefulSet') as Obj
        assert.equal(sts.spec.replicas, 3)
        assert.equal(sts.spec.serviceName, 'shop-peers')
        assert.equal(sts.spec.podManagementPolicy, 'OrderedReady')
        const c = sts.spec.template.spec.containers[0]
        assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'admin' })
        assert.deepEqual(c.livenessProbe.httpGet, { path: '/livez', port: 'admin' })
        assert.deepEqual(c.lifecycle.preStop, { sleep: { seconds: 5 } })
        assert.ok(sts.spec.template.spec.terminationGracePeriodSeconds > 5 + 5)
        assert.deepEqual(c.env[0], {
          name: 'CATTERY_NAME',
          valueFrom: { fieldRef: { fieldPath: 'metadata.name' } },
        })
        assert.deepEqual(
          c.ports.map((p: Obj) => [p.name, p.containerPort]),
          [
            ['http', 8080],
            ['admin', 9090],
            ['replication', 4000],
          ],
        )
      },
    ],
    [
      'a rollout replaces one pod at a time, the next once the replacement is Ready: RollingUpdate, partition 0, maxUnavailable 1',
      { replicas: 5 },
      (sc) => {
        assert.deepEqual((find(sc, 'StatefulSet') as Obj).spec.updateStrategy, {
          type: 'RollingUpdate',
          rollingUpdate: { partition: 0, maxUnavailable: 1 },
        })
      },
    ],
    [
      'a headless peer Service that publishes not-ready addresses, and a client Service',
      { service: { type: 'LoadBalancer', port: 8080, sessionAffinity: 'None' } },
      (sc) => {
        const peers = find(sc, 'Service', 'shop-peers') as Obj
        assert.equal(peers.spec.clusterIP, 'None')
        assert.equal(peers.spec.publishNotReadyAddresses, true)
        const client = find(sc, 'Service', 'shop') as Obj
        assert.equal(client.spec.type, 'LoadBalancer')
        assert.deepEqual(client.spec.ports, [{ name: 'http', port: 8080, targetPort: 'http' }])
        assert.equal(client.spec.sessionAffinity, 'None')
      },
    ],
    [
      'node pods pass Pod Security "restricted": non-root, RuntimeDefault seccomp, no capabilities, no escalation',
      {},
      (sc) => {
        const spec = (find(sc, 'StatefulSet') as Obj).spec.template.spec
        assert.deepEqual(spec.securityContext.seccompProfile, { type: 'RuntimeDefault' })
        assert.equal(spec.securityContext.runAsNonRoot, true)
        const c = spec.containers[0].securityContext
        assert.deepEqual(c.capabilities, { drop: ['ALL'] })
        assert.equal(c.allowPrivilegeEscalation, false)
      },
    ],
    [
      'the cluster secret and admin token are mounted from the Secret <name>-secrets and named by env',
      {},
      (sc) => {
        const spec = (find(sc, 'StatefulSet') as Obj).spec.template.spec
        assert.deepEqual(
          spec.volumes.find((v: Obj) => v.name === 'secrets'),
          { name: 'secrets', secret: { secretName: 'shop-secrets', defaultMode: 0o440 } },
        )
        const env = Object.fromEntries(spec.containers[0].env.map((e: Obj) => [e.name, e.value]))
        assert.equal(env.CATTERY_CLUSTER_SECRET_FILE, '/etc/cattery/secrets/cluster-secret')
        assert.equal(env.CATTERY_ADMIN_TOKEN_FILE, '/etc/cattery/secrets/admin-token')
      },
    ],
    [
      'a NetworkPolicy lets only the cluster’s own pods reach the replication port, the namespace reach HTTP and admin',
      {},
      (sc) => {
        const np = find(sc, 'NetworkPolicy', 'shop') as Obj
        assert.deepEqual(np.spec.podSelector.matchLabels, {
          'app.kubernetes.io/name': 'cattery-node',
          'app.kubernetes.io/instance': 'shop',
        })
        const [replication, clients] = np.spec.ingress
        assert.deepEqual(replication.from, [
          { podSelector: { matchLabels: np.spec.podSelector.matchLabels } },
        ])
        assert.deepEqual(replication.ports, [{ protocol: 'TCP', port: 4000 }])
        assert.deepEqual(clients.from, [{ podSelector: {} }])
        assert.deepEqual(
          clients.ports.map((p: Obj) => p.port),
          [8080, 9090],
        )
        assert.equal(np.spec.ingress.length, 2, 'no rule for an operator that does not run in a pod')
      },
    ],
    [
      'with multicast membership the NetworkPolicy also opens the heartbeat port to the cluster’s pods',
      {
        membership: { type: 'multicast', address: '228.0.0.4', port: 45564, frequency: 500, dropTime: 3000 },
      },
      (sc) =>
        assert.deepEqual((find(sc, 'NetworkPolicy') as Obj).spec.ingress[0].ports, [
          { protocol: 'TCP', port: 4000 },
          { protocol: 'UDP', port: 45564 },
        ]),
    ],
    [
      'the client Service keeps a client on one pod when sessionAffinity is ClientIP',
      { service: { type: 'ClusterIP', port: 80, sessionAffinity: 'ClientIP' } },
      (sc) => assert.equal((find(sc, 'Service', 'shop') as Obj).spec.sessionAffinity, 'ClientIP'),
    ],
    [
      'each SessionCluster is a membership domain of its own unless spec.domain names one',
      {},
      (sc) => {
        assert.equal(nodeConfig(sc).domain, 'prod.shop')
        assert.equal(nodeConfig({ ...sc, spec: { ...sc.spec, domain: 'shared' } }).domain, 'shared')
      },
    ],
    [
      'the JvmRouteBinder is on by default and off when spec.jvmRouteBinder is false',
      { jvmRouteBinder: false },
      (sc) => {
        assert.deepEqual(nodeConfig(cluster()).jvmRouteBinder, { enabled: true })
        assert.deepEqual(nodeConfig(sc).jvmRouteBinder, { enabled: false })
      },
    ],
    [
      "a pod announces its own IP to peers (the downward API's status.podIP as CATTERY_POD_IP)",
      {},
      (sc) => {
        const env = (find(sc, 'StatefulSet') as Obj).spec.template.spec.containers[0].env as Obj[]
        assert.deepEqual(
          env.find((e) => e.name === 'CATTERY_POD_IP'),
          { name: 'CATTERY_POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        )
      },
    ],
    [
      'every object is owned by the SessionCluster (garbage collection)',
      {},
      (sc) => {
        for (const o of desiredResources(sc, inputs) as Obj[]) {
          assert.deepEqual(o.metadata.ownerReferences[0], {
            apiVersion: 'cattery.dev/v1alpha1',
            kind: 'SessionCluster',
            name: 'shop',
            uid: 'u-1',
            controller: true,
            blockOwnerDeletion: true,
          })
          assert.equal(o.metadata.namespace, 'prod')
        }
      },
    ],
    [
      'no PodDisruptionBudget when disabled; maxUnavailable otherwise',
      { podDisruptionBudget: { enabled: false, maxUnavailable: 1 } },
      (sc) => assert.equal(find(sc, 'PodDisruptionBudget'), undefined),
    ],
    [
      'with the BackupManager the PodDisruptionBudget allows at most its backups (k) pods down',
      {
        manager: { ...withDefaults({}).manager, type: 'backup', backups: 2 },
        podDisruptionBudget: { enabled: true, maxUnavailable: 3 },
      },
      (sc) => {
        assert.equal((find(sc, 'PodDisruptionBudget') as Obj).spec.maxUnavailable, 2)
        const yaml = (find(sc, 'ConfigMap') as Obj).data['node.yaml'] as string
        assert.match(yaml, /type: backup/)
        assert.match(yaml, /backups: 2/)
      },
    ],
    [
      'with the BackupManager and one backup (the default), one pod down at a time',
      { manager: { ...withDefaults({}).manager, type: 'backup' } },
      (sc) => assert.equal((find(sc, 'PodDisruptionBudget') as Obj).spec.maxUnavailable, 1),
    ],
    [
      'the nodes may read only their own SessionCluster',
      {},
      (sc) => {
        const role = find(sc, 'Role') as Obj
        assert.deepEqual(role.rules, [
          {
            apiGroups: ['cattery.dev'],
            resources: ['sessionclusters'],
            resourceNames: ['shop'],
            verbs: ['get', 'list', 'watch'],
          },
        ])
      },
    ],
    [
      'pod template overrides are applied without losing the selector labels',
      {
        pod: { labels: { team: 'a', 'app.kubernetes.io/instance': 'hijack' }, nodeSelector: { disk: 'ssd' } },
      },
      (sc) => {
        const t = (find(sc, 'StatefulSet') as Obj).spec.template
        assert.equal(t.metadata.labels.team, 'a')
        assert.equal(t.metadata.labels['app.kubernetes.io/instance'], 'shop')
        assert.deepEqual(t.spec.nodeSelector, { disk: 'ssd' })
      },
    ],
  ]
  for (const [name, spec, check] of table) it(name, () => check(cluster(spec)))

  it('an operator in a pod is admitted to the admin port from its own namespace, by its pods’ labels', () => {
    const operator = {
      namespace: 'cattery-system',
      podLabels: { 'app.kubernetes.io/name': 'cattery-operator' },
    }
    const np = desiredResources(cluster(), { ...inputs, operator }).find(
      (o: Obj) => o.kind === 'NetworkPolicy',
    ) as Obj
    assert.deepEqual(np.spec.ingress[2], {
      from: [
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'cattery-system' } },
          podSelector: { matchLabels: { 'app.kubernetes.io/name': 'cattery-operator' } },
        },
      ],
      ports: [{ protocol: 'TCP', port: 9090 }],
    })
    // The pods do not roll for it: the pod template does not change.
    assert.deepEqual(statefulSet(cluster(), { ...inputs, operator }), statefulSet(cluster(), inputs))
  })

  it('a change of configuration changes the pod template (rolling the pods); scaling does not', () => {
    const hash = (sc: SessionCluster) =>
      (statefulSet(sc, inputs) as Obj).spec.template.metadata.annotations['cattery.dev/config-hash']
    const base = hash(cluster())
    assert.equal(hash(cluster({ replicas: 7 })), base)
    assert.notEqual(hash(cluster({ domain: 'other' })), base)
  })

  it('a change of the Secret’s cluster secret or admin token changes the pod template’s checksum', () => {
    const checksum = (data: Record<string, string>) =>
      (statefulSet(cluster(), { secretsChecksum: secretsChecksum(data) }) as Obj).spec.template.metadata
        .annotations['cattery.dev/secrets-checksum']
    const base = checksum(SECRET_DATA)
    assert.match(base, /^[0-9a-f]{64}$/)
    assert.equal(checksum({ ...SECRET_DATA }), base)
    const rotations: Array<[string, Record<string, string>]> = [
      [
        'a second cluster secret',
        { ...SECRET_DATA, 'cluster-secret': b64(`${'o'.repeat(43)}\n${'n'.repeat(43)}`) },
      ],
      ['another cluster secret', { ...SECRET_DATA, 'cluster-secret': b64('n'.repeat(43)) }],
      ['another admin token', { ...SECRET_DATA, 'admin-token': b64('u'.repeat(43)) }],
    ]
    for (const [what, data] of rotations) assert.notEqual(checksum(data), base, what)
    // Other keys of the Secret are not what the pods read.
    assert.equal(checksum({ ...SECRET_DATA, note: b64('hello') }), base)
  })

  it('renders a node configuration the node accepts', () => {
    const sc = cluster({ membership: withDefaults({}).membership })
    sc.spec.membership.type = 'multicast'
    const yaml = (desiredResources(sc, inputs).find((o: Obj) => o.kind === 'ConfigMap') as Obj).data[
      'node.yaml'
    ]
    assert.deepEqual(parse(yaml), nodeConfig(sc))
    // The pod gets the cluster secret as a mounted file named by CATTERY_CLUSTER_SECRET_FILE.
    const loaded = loadConfig({
      argv: ['--config', 'node.yaml', '--name', 'shop-0'],
      env: { CATTERY_CLUSTER_SECRET_FILE: '/etc/cattery/cluster-secret' },
      readFile: (p) => (p === '/etc/cattery/cluster-secret' ? `${'s'.repeat(44)}\n` : yaml),
    })
    assert.equal(loaded.config.membership.type, 'multicast')
    assert.equal(loaded.config.receiver.port, 4000)
  })

  it('the Secret holds the bytes it is given, encoded, and is owned by the SessionCluster', () => {
    const s = clusterSecrets(cluster(), {
      clusterSecret: Buffer.alloc(32, 1),
      adminToken: Buffer.alloc(32, 2),
    })
    assert.equal(s.metadata.name, 'shop-secrets')
    assert.equal(s.stringData['cluster-secret'], Buffer.alloc(32, 1).toString('base64url'))
    assert.equal(s.stringData['admin-token'], Buffer.alloc(32, 2).toString('base64url'))
    assert.equal(s.metadata.ownerReferences[0]?.uid, 'u-1')
  })
})
