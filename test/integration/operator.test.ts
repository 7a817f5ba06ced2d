/**
 * The operator against a real control plane (etcd, kube-apiserver, kube-controller-manager; no
 * kubelet, so the test sets pod status as a kubelet would): owned objects, updates, the scale
 * subresource, status and members from pods, CEL validation, events, a node on the host watching its
 * member list, leader election with fail-over, an apiserver restart, and deletion.
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type ControlPlane, eventually, operatorProcess, startControlPlane } from '../helpers/kube.ts'
import { freePorts, NodeProcess } from '../helpers/node-process.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')
const NS = 'shop'
// biome-ignore lint/suspicious/noExplicitAny: API objects are read freely
type Obj = Record<string, any>

let cp: ControlPlane
const operators: NodeProcess[] = []
const nodes: NodeProcess[] = []

async function startOperator(name: string): Promise<{ proc: NodeProcess; metrics: number; health: number }> {
  const { proc, health, metrics } = await operatorProcess(
    name,
    cp.kubeconfig,
    [
      '--lease-duration',
      '3',
      '--renew-deadline',
      '2',
      '--retry-period',
      '0.5',
      '--log-level',
      'debug',
      '--leader-election-namespace',
      'default',
      '--operator-pod-selector',
      'app.kubernetes.io/name=cattery-operator',
    ],
    // As if it ran in a pod of cattery-system: the NetworkPolicy admits it to the admin port.
    { POD_NAMESPACE: 'cattery-system' },
  )
  operators.push(proc)
  await proc.waitFor((l) => l.event === 'started', 15_000)
  return { proc, metrics, health }
}

const get = (kind: string, name: string) => cp.json<Obj>('-n', NS, 'get', kind, name)
const apply = (yaml: string) => {
  const file = path.join(cp.dir, `apply-${Date.now()}.yaml`)
  writeFileSync(file, yaml)
  return cp.kubectl('apply', '-f', file)
}
const setPodStatus = (pod: string, ip: string, ready: boolean) =>
  cp.kubectl(
    '-n',
    NS,
    'patch',
    'pod',
    pod,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({
      status: {
        phase: 'Running',
        podIP: ip,
        podIPs: [{ ip }],
        conditions: [
          {
            type: 'Ready',
            status: ready ? 'True' : 'False',
            lastTransitionTime: new Date().toISOString().replace(/\.\d+Z/, 'Z'),
          },
        ],
      },
    }),
  )
const patchCluster = (spec: Obj) =>
  cp.kubectl('-n', NS, 'patch', 'sessioncluster', 'shop', '--type=merge', '-p', JSON.stringify({ spec }))
const condition = (sc: Obj, type: string) => (sc.status?.conditions ?? []).find((c: Obj) => c.type === type)

describe('the SessionCluster operator against a real control plane', { timeout: 300_000 }, () => {
  let leader: Awaited<ReturnType<typeof startOperator>>
  let receiverPort: number

  before(async () => {
    cp = await startControlPlane()
    await cp.kubectl('apply', '--server-side', '-f', path.join(ROOT, 'crds/sessioncluster.yaml'))
    await cp.kubectl(
      'wait',
      '--for=condition=Established',
      'crd/sessionclusters.cattery.dev',
      '--timeout=30s',
    )
    await cp.kubectl('create', 'namespace', NS)
    ;[receiverPort] = (await freePorts(1)) as [number]
    leader = await startOperator('op-a')
  })

  after(async () => {
    await Promise.all([...nodes, ...operators].map((p) => p.stop('SIGKILL')))
    await cp?.down()
  })

  it('creating a SessionCluster makes every owned object, with owner references', async () => {
    await apply(`apiVersion: cattery.dev/v1alpha1
kind: SessionCluster
metadata: {name: shop, namespace: ${NS}}
spec:
  replicas: 2
  image: cattery-node:test
  channel: {receiverPort: ${receiverPort}}
`)
    const sc = await get('sessioncluster', 'shop')
    const sts = await eventually('the StatefulSet', () => get('statefulset', 'shop'))
    assert.equal(sts.spec.replicas, 2)
    assert.equal(sts.spec.podManagementPolicy, 'OrderedReady')
    assert.equal(sts.spec.template.spec.containers[0].image, 'cattery-node:test')
    assert.equal(sts.metadata.ownerReferences[0].uid, sc.metadata.uid)
    assert.equal(sts.metadata.ownerReferences[0].controller, true)
    const peers = await get('service', 'shop-peers')
    assert.equal(peers.spec.clusterIP, 'None')
    assert.equal(peers.spec.publishNotReadyAddresses, true)
    assert.equal((await get('service', 'shop')).spec.ports[0].port, 80)
    const cm = await get('configmap', 'shop-config')
    assert.match(cm.data['node.yaml'], /type: kubernetes/)
    assert.equal((await get('poddisruptionbudget', 'shop')).spec.maxUnavailable, 1)
    const role = await get('role', 'shop-node')
    assert.deepEqual(role.rules[0].resourceNames, ['shop'])
    await get('rolebinding', 'shop-node')
    await get('serviceaccount', 'shop-node')
    // The rules keep their peers as applied (the client's serializer once dropped `from`).
    const np = await get('networkpolicy', 'shop')
    assert.equal(np.spec.ingress[0].ports[0].port, receiverPort)
    assert.deepEqual(
      np.spec.ingress.map((r: Obj) => r.from),
      [
        [
          {
            podSelector: {
              matchLabels: { 'app.kubernetes.io/instance': 'shop', 'app.kubernetes.io/name': 'cattery-node' },
            },
          },
        ],
        [{ podSelector: {} }],
        [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'cattery-system' } },
            podSelector: { matchLabels: { 'app.kubernetes.io/name': 'cattery-operator' } },
          },
        ],
      ],
    )
    const secret = await get('secret', 'shop-secrets')
    assert.equal(Buffer.from(secret.data['cluster-secret'], 'base64').length, 43) // 32 bytes, base64url
    assert.equal(secret.metadata.ownerReferences[0].uid, sc.metadata.uid)
    const status = await eventually(
      'status written',
      async () => (await get('sessioncluster', 'shop')).status,
    )
    assert.equal(status.selector, 'app.kubernetes.io/name=cattery-node,app.kubernetes.io/instance=shop')
    const events = await cp.json<Obj>(
      '-n',
      NS,
      'get',
      'events',
      '--field-selector',
      'involvedObject.kind=SessionCluster',
    )
    assert.ok(
      events.items.some((e: Obj) => e.reason === 'Created'),
      'a Created event',
    )
  })

  it('pods marked Ready move readyReplicas, members, the conditions and the published list', async () => {
    await eventually('pod shop-0', () => get('pod', 'shop-0'))
    await setPodStatus('shop-0', '127.0.0.2', true)
    // OrderedReady: shop-1 is created only once shop-0 is Ready.
    await eventually('pod shop-1', () => get('pod', 'shop-1'))
    await setPodStatus('shop-1', '127.0.0.3', false)
    let sc = await eventually('members of both pods', async () => {
      const s = await get('sessioncluster', 'shop')
      return s.status?.members?.length === 2 && s
    })
    assert.deepEqual(sc.status.members, [
      { name: 'shop-0', podIP: '127.0.0.2', port: receiverPort, ready: true },
      { name: 'shop-1', podIP: '127.0.0.3', port: receiverPort, ready: false },
    ])
    assert.equal(sc.status.readyReplicas, 1)
    assert.equal(condition(sc, 'Ready').status, 'False')
    await setPodStatus('shop-1', '127.0.0.3', true)
    sc = await eventually('Ready', async () => {
      const s = await get('sessioncluster', 'shop')
      return condition(s, 'Ready')?.status === 'True' && s
    })
    assert.equal(sc.status.readyReplicas, 2)
    assert.equal(condition(sc, 'Degraded').status, 'False')
    assert.equal(condition(sc, 'ScalingUp'), undefined)
    const printed = await cp.kubectl('-n', NS, 'get', 'scluster', 'shop')
    assert.match(printed, /shop\s+2\s+2\s+delta/)
  })

  it('the cluster Secret is made once: later reconciles keep its content', async () => {
    const before = (await get('secret', 'shop-secrets')).data
    // Reconciles: the SessionCluster and an owned object change (neither rolls the pods).
    await cp.kubectl('-n', NS, 'annotate', 'sessioncluster', 'shop', `poke=${Date.now()}`)
    await cp.kubectl('-n', NS, 'annotate', 'configmap', 'shop-config', `poke=${Date.now()}`)
    await new Promise((r) => setTimeout(r, 1500))
    assert.deepEqual((await get('secret', 'shop-secrets')).data, before)
  })

  it('refuses to take over an object of the same name it does not own, with a NotOwned event', async () => {
    await cp.kubectl('-n', NS, 'create', 'configmap', 'other-config', '--from-literal=mine=yes')
    await apply(`apiVersion: cattery.dev/v1alpha1
kind: SessionCluster
metadata: {name: other, namespace: ${NS}}
spec: {replicas: 1, channel: {receiverPort: ${receiverPort}}}
`)
    const degraded = await eventually('Degraded', async () => {
      const c = condition(await get('sessioncluster', 'other'), 'Degraded')
      return c?.status === 'True' ? c : undefined
    })
    assert.match(degraded.message, /ConfigMap other-config exists and is not owned by SessionCluster other/)
    assert.deepEqual((await get('configmap', 'other-config')).data, { mine: 'yes' })
    const events = await cp.json<Obj>(
      '-n',
      NS,
      'get',
      'events',
      '--field-selector',
      'involvedObject.name=other',
    )
    assert.ok(events.items.some((e: Obj) => e.reason === 'NotOwned'))
    await cp.kubectl('-n', NS, 'delete', 'sessioncluster', 'other')
    await cp.kubectl('-n', NS, 'delete', 'configmap', 'other-config')
  })

  it('status is written only when it changes', async () => {
    const before = (await get('sessioncluster', 'shop')).metadata.resourceVersion
    await cp.kubectl('-n', NS, 'annotate', 'statefulset', 'shop', `poke=${Date.now()}`)
    await new Promise((r) => setTimeout(r, 1500))
    const sc = await get('sessioncluster', 'shop')
    assert.equal(sc.metadata.resourceVersion, before, 'a reconcile with nothing new wrote nothing')
  })

  it('a node on the host with kubernetes membership sees its peers come and go', async () => {
    const token = (await cp.kubectl('-n', NS, 'create', 'token', 'shop-node')).trim()
    const tokenFile = path.join(cp.dir, 'node-token')
    writeFileSync(tokenFile, token)
    const start = async (name: string, ip: string) => {
      const [http, admin] = (await freePorts(2, ip)) as [number, number]
      const n = new NodeProcess(name, [
        '--membership',
        'kubernetes',
        '--kubernetes-api',
        `https://127.0.0.1:${cp.apiPort}`,
        '--kubernetes-ca-file',
        cp.caFile,
        '--kubernetes-token-file',
        tokenFile,
        '--kubernetes-cluster',
        'shop',
        '--kubernetes-namespace',
        NS,
        '--receiver-host',
        ip,
        '--receiver-port',
        String(receiverPort),
        '--http-host',
        ip,
        '--http-port',
        String(http),
        '--admin-host',
        ip,
        '--admin-port',
        String(admin),
      ])
      nodes.push(n)
      await n.waitFor((l) => l.event === 'started', 20_000)
      return n
    }
    const n0 = await start('shop-0', '127.0.0.2')
    const n1 = await start('shop-1', '127.0.0.3')
    await n0.waitForView(['shop-1'])
    await n1.waitForView(['shop-0'])
    // The API goes away: the nodes keep their peers.
    await cp.stopApiserver()
    await n0.waitFor((l) => l.msg === 'cannot read the member list; keeping the last one', 15_000)
    assert.deepEqual(n0.view(), ['shop-1'])
    await cp.up()
    // Scaling down removes shop-1 from the published list; shop-0 drops it at once.
    await eventually(
      'operator back',
      async () => (await fetch(`http://127.0.0.1:${leader.health}/readyz`)).ok,
      30_000,
    )
    await eventually(
      'scale accepted',
      () => cp.kubectl('-n', NS, 'scale', 'sessioncluster/shop', '--replicas=1'),
      30_000,
    )
    await n0.waitForView([], 30_000)
    await n1.stop()
  })

  it('changes of replicas, image and manager settings reach the owned objects', async () => {
    const before = await get('statefulset', 'shop')
    const hash = before.spec.template.metadata.annotations['cattery.dev/config-hash']
    await patchCluster({ replicas: 3, image: 'cattery-node:next', manager: { maxActiveSessions: 500 } })
    const sts = await eventually(
      'the StatefulSet follows',
      async () => {
        const s = await get('statefulset', 'shop')
        return s.spec.replicas === 3 && s.spec.template.spec.containers[0].image === 'cattery-node:next' && s
      },
      30_000,
    )
    assert.notEqual(sts.spec.template.metadata.annotations['cattery.dev/config-hash'], hash, 'the pods roll')
    assert.match((await get('configmap', 'shop-config')).data['node.yaml'], /maxActiveSessions: 500/)
  })

  it('editing the Secret (a rotation step) changes the pod template’s checksum, so the pods roll', async () => {
    const checksum = async () =>
      (await get('statefulset', 'shop')).spec.template.metadata.annotations['cattery.dev/secrets-checksum']
    const before = await checksum()
    const data = (await get('secret', 'shop-secrets')).data
    const [token, old] = [data['admin-token'], data['cluster-secret']].map((b) => Buffer.from(b, 'base64'))
    const lines = `${old}\n${'n'.repeat(43)}`
    // docs/security.md's recipe: kubectl create secret --dry-run=client -o yaml | kubectl apply -f -
    await apply(
      await cp.kubectl(
        ...['-n', NS, 'create', 'secret', 'generic', 'shop-secrets', '--dry-run=client', '-o', 'yaml'],
        ...[`--from-literal=admin-token=${token}`, `--from-literal=cluster-secret=${lines}`],
      ),
    )
    await eventually('a new checksum in the pod template', async () => (await checksum()) !== before)
    const secret = await get('secret', 'shop-secrets')
    assert.equal(Buffer.from(secret.data['cluster-secret'], 'base64').toString(), lines, 'rewritten')
    assert.equal(secret.metadata.ownerReferences[0].kind, 'SessionCluster')
  })

  it('kubectl scale goes through the scale subresource', async () => {
    await cp.kubectl('-n', NS, 'scale', 'sessioncluster/shop', '--replicas=4')
    const scale = await cp
      .json<Obj>('get', '--raw', `/apis/cattery.dev/v1alpha1/namespaces/${NS}/sessionclusters/shop/scale`)
      .catch(async () =>
        JSON.parse(
          await cp.kubectl(
            'get',
            '--raw',
            `/apis/cattery.dev/v1alpha1/namespaces/${NS}/sessionclusters/shop/scale`,
          ),
        ),
      )
    assert.equal(scale.spec.replicas, 4)
    await eventually('replicas 4', async () => (await get('statefulset', 'shop')).spec.replicas === 4, 30_000)
  })

  it('invalid resources are refused by the apiserver with the rule’s message', async () => {
    await assert.rejects(
      apply(`apiVersion: cattery.dev/v1alpha1
kind: SessionCluster
metadata: {name: bad, namespace: ${NS}}
spec: {replicas: -1}
`),
      (err: Error & { stderr?: string }) => /replicas/.test(err.stderr ?? err.message),
    )
    await assert.rejects(
      apply(`apiVersion: cattery.dev/v1alpha1
kind: SessionCluster
metadata: {name: bad, namespace: ${NS}}
spec: {bogus: 1}
`),
      (err: Error & { stderr?: string }) => /bogus/.test(err.stderr ?? err.message),
    )
  })

  it('the examples are SessionClusters the apiserver accepts', async () => {
    const out = await cp.kubectl('apply', '--dry-run=server', '-n', NS, '-f', path.join(ROOT, 'examples'))
    assert.match(out, /sessioncluster.cattery.dev\/shop (created|configured) \(server dry run\)/)
    assert.match(out, /sessioncluster.cattery.dev\/checkout created \(server dry run\)/)
  })

  it('two operator replicas: only the leader acts; the other takes over when it stops', async () => {
    const standby = await startOperator('op-b')
    await new Promise((r) => setTimeout(r, 1500))
    assert.ok(!standby.proc.lines.some((l) => l.event === 'leading'), 'the standby does not lead')
    const metric = await (await fetch(`http://127.0.0.1:${standby.metrics}/metrics`)).text()
    assert.doesNotMatch(metric, /controller_runtime_reconcile_total\{[^}]*result="success"\} [1-9]/)
    const stoppedAt = Date.now()
    await leader.proc.stop('SIGTERM')
    await standby.proc.waitFor((l) => l.event === 'leading', 10_000)
    const tookOver = Date.now() - stoppedAt
    const released = leader.proc.lines.find((l) => l.msg === 'lease released')
    const leading = standby.proc.lines.find((l) => l.event === 'leading')
    assert.ok(released, 'the leader released the lease on SIGTERM')
    const afterRelease = (leading?.time ?? 0) - released.time
    // Released, the lease is taken at the standby's next retry (0.5 s), not after the lease time (3 s).
    assert.ok(
      afterRelease < 1500,
      `took over ${afterRelease} ms after the release (${tookOver} ms after SIGTERM)`,
    )
    await cp.kubectl('-n', NS, 'scale', 'sessioncluster/shop', '--replicas=2')
    await eventually(
      'the new leader acts',
      async () => (await get('statefulset', 'shop')).spec.replicas === 2,
      20_000,
    )
    leader = standby
  })

  it('after an apiserver restart the operator recovers and converges', async () => {
    await cp.stopApiserver()
    await new Promise((r) => setTimeout(r, 2000))
    await cp.up()
    await eventually('scale accepted', () => patchCluster({ replicas: 5 }), 30_000)
    await eventually(
      'converged after the restart',
      async () => (await get('statefulset', 'shop')).spec.replicas === 5,
      40_000,
    )
    await eventually('the ConfigMap comes back when deleted', async () => {
      await cp.kubectl('-n', NS, 'delete', 'configmap', 'shop-config', '--ignore-not-found')
      return true
    })
    await eventually('recreated', () => get('configmap', 'shop-config'), 20_000)
  })

  it('deleting the SessionCluster removes what it owned', async () => {
    await cp.kubectl('-n', NS, 'delete', 'sessioncluster', 'shop', '--wait=false')
    // The garbage collector learns about a new CRD type on its discovery resync (~30 s).
    await eventually(
      'owned objects removed',
      async () => {
        const left = await cp.kubectl(
          '-n',
          NS,
          'get',
          'statefulset,service,configmap,pdb,role',
          '-l',
          'app.kubernetes.io/instance=shop',
          '-o',
          'name',
        )
        return left.trim() === ''
      },
      90_000,
    )
  })
})
