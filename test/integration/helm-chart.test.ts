/**
 * The Helm chart charts/cattery-operator: lint, rendered templates, the values schema, and an install
 * into a real control plane whose RBAC is then proved sufficient by running the operator with the
 * chart's own service-account token.
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { parseAllDocuments } from 'yaml'
import { type ControlPlane, eventually, helm, operatorProcess, startControlPlane } from '../helpers/kube.ts'
import type { NodeProcess } from '../helpers/node-process.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')
const CHART = path.join(ROOT, 'charts/cattery-operator')
// biome-ignore lint/suspicious/noExplicitAny: rendered objects are read freely
type Obj = Record<string, any>

const render = async (...set: string[]): Promise<Obj[]> => {
  const out = await helm(
    undefined,
    'template',
    'cattery',
    CHART,
    '-n',
    'cattery-system',
    '--kube-version',
    '1.35.4',
    ...set.flatMap((s) => ['--set', s]),
  )
  return parseAllDocuments(out)
    .map((d) => d.toJSON() as Obj)
    .filter(Boolean)
}
const kinds = (objs: Obj[]) => objs.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}`).sort()

describe('the Helm chart', () => {
  it('passes helm lint --strict', async () => {
    const out = await helm(undefined, 'lint', '--strict', CHART)
    assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/)
  })

  it('renders a Deployment with the operator flags and cluster-wide RBAC by default', async () => {
    const objs = await render()
    const dep = objs.find((o) => o.kind === 'Deployment') as Obj
    assert.equal(dep.spec.replicas, 2)
    const c = dep.spec.template.spec.containers[0]
    assert.deepEqual(c.args, [
      '--leader-elect=true',
      '--lease-duration=15',
      '--renew-deadline=10',
      '--retry-period=2',
      '--health-probe-bind-address=:8081',
      '--metrics-bind-address=:8080',
      '--log-level=info',
    ])
    assert.equal(c.image, 'cattery-operator:0.1.0')
    // Where its pods are, so the node pods' NetworkPolicy admits them to the admin port.
    const env = Object.fromEntries(c.env.map((e: Obj) => [e.name, e.value ?? e.valueFrom.fieldRef.fieldPath]))
    assert.equal(env.POD_NAMESPACE, 'metadata.namespace')
    assert.equal(
      env.CATTERY_OPERATOR_POD_SELECTOR,
      'app.kubernetes.io/name=cattery-operator,app.kubernetes.io/instance=cattery',
    )
    assert.deepEqual(
      Object.fromEntries(env.CATTERY_OPERATOR_POD_SELECTOR.split(',').map((kv: string) => kv.split('='))),
      dep.spec.selector.matchLabels,
      'the selector is the Deployment’s own',
    )
    assert.equal(c.readinessProbe.httpGet.path, '/readyz')
    assert.equal(c.securityContext.readOnlyRootFilesystem, true)
    const role = objs.find((o) => o.kind === 'ClusterRole') as Obj
    const can = (resource: string, verb: string) =>
      role.rules.some((r: Obj) => r.resources.includes(resource) && r.verbs.includes(verb))
    for (const [res, verb] of [
      ['sessionclusters', 'watch'],
      ['sessionclusters/status', 'patch'],
      ['statefulsets', 'patch'],
      ['pods', 'watch'],
      ['roles', 'create'],
      ['events', 'create'],
      ['secrets', 'watch'],
    ])
      assert.ok(can(res as string, verb as string), `ClusterRole allows ${verb} ${res}`)
    // The cluster Secrets are created and watched, never rewritten.
    assert.ok(!can('secrets', 'update') && !can('secrets', 'patch') && !can('secrets', 'delete'))
    assert.ok(objs.some((o) => o.kind === 'Role' && o.rules[0].apiGroups.includes('coordination.k8s.io')))
    assert.ok(!objs.some((o) => o.kind === 'ServiceMonitor' || o.kind === 'PodDisruptionBudget'))
  })

  it('watchNamespaces: a Role per namespace instead of a ClusterRole, and --namespace', async () => {
    const objs = await render('watchNamespaces={shop,checkout}')
    assert.ok(!objs.some((o) => o.kind === 'ClusterRole'))
    const roles = kinds(objs.filter((o) => o.kind === 'Role' || o.kind === 'RoleBinding'))
    for (const ns of ['shop', 'checkout']) {
      assert.ok(
        roles.includes(`Role/${ns}`) && roles.includes(`RoleBinding/${ns}`),
        `Role and binding in ${ns}`,
      )
    }
    const dep = objs.find((o) => o.kind === 'Deployment') as Obj
    assert.ok(dep.spec.template.spec.containers[0].args.includes('--namespace=shop,checkout'))
  })

  it('optional PodDisruptionBudget and ServiceMonitor', async () => {
    const objs = await render('podDisruptionBudget.enabled=true', 'serviceMonitor.enabled=true')
    assert.equal((objs.find((o) => o.kind === 'PodDisruptionBudget') as Obj).spec.minAvailable, 1)
    const sm = objs.find((o) => o.kind === 'ServiceMonitor') as Obj
    assert.equal(sm.spec.endpoints[0].port, 'metrics')
  })

  it('the values schema refuses unknown keys and bad values, naming them', async () => {
    for (const [set, message] of [
      ['bogus=1', /additional properties 'bogus' not allowed/],
      ['logLevel=loud', /logLevel/],
      ['replicaCount=0', /replicaCount/],
    ] as const) {
      await assert.rejects(
        render(set),
        (err: Error & { stderr?: string }) => message.test(err.stderr ?? ''),
        set,
      )
    }
  })
})

describe('the Helm chart installed into a real control plane', { timeout: 240_000 }, () => {
  let cp: ControlPlane
  let operator: NodeProcess | undefined

  before(async () => {
    cp = await startControlPlane()
  })
  after(async () => {
    await operator?.stop('SIGKILL')
    await cp?.down()
  })

  it('helm install creates the CRD, the Deployment and the RBAC, which is enough for the operator', async () => {
    const out = await helm(cp, 'install', 'cattery', CHART, '-n', 'cattery-system', '--create-namespace')
    assert.match(out, /STATUS: deployed/)
    assert.match(out, /kind: SessionCluster/, 'NOTES.txt shows a sample SessionCluster')
    await cp.kubectl(
      'wait',
      '--for=condition=Established',
      'crd/sessionclusters.cattery.dev',
      '--timeout=30s',
    )
    const dep = await cp
      .json('-n', 'cattery-system', 'get', 'deployment', 'cattery-cattery-operator')
      .catch(async () => (await cp.json('-n', 'cattery-system', 'get', 'deployment')).items[0])
    assert.equal(dep.spec.template.spec.serviceAccountName.length > 0, true)
    // No kubelet runs the Deployment's pod: run the operator on the host as that service account.
    const sa = dep.spec.template.spec.serviceAccountName as string
    const token = (await cp.kubectl('-n', 'cattery-system', 'create', 'token', sa)).trim()
    const kubeconfig = path.join(cp.dir, 'operator-sa.kubeconfig')
    writeFileSync(
      kubeconfig,
      `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:${cp.apiPort}", certificate-authority: "${cp.caFile}"}}]
users: [{name: sa, user: {token: "${token}"}}]
contexts: [{name: c, context: {cluster: c, user: sa}}]
current-context: c
`,
    )
    operator = (
      await operatorProcess('operator', kubeconfig, ['--leader-election-namespace', 'cattery-system'])
    ).proc
    await operator.waitFor((l) => l.event === 'leading', 20_000)
    await cp.kubectl('create', 'namespace', 'shop')
    const file = path.join(cp.dir, 'sc.yaml')
    writeFileSync(
      file,
      'apiVersion: cattery.dev/v1alpha1\nkind: SessionCluster\nmetadata: {name: shop, namespace: shop}\nspec: {replicas: 1}\n',
    )
    await cp.kubectl('apply', '-f', file)
    await eventually('owned objects and status, as the chart service account', async () => {
      const sc = await cp.json('-n', 'shop', 'get', 'sessioncluster', 'shop')
      return sc.status?.conditions?.find((c: Obj) => c.type === 'Degraded')?.status === 'False' && sc
    })
    await cp.json('-n', 'shop', 'get', 'statefulset', 'shop')
    await cp.json('-n', 'shop', 'get', 'rolebinding', 'shop-node')
    const events = await cp.json('-n', 'shop', 'get', 'events')
    assert.ok(events.items.some((e: Obj) => e.reason === 'Created'))
    assert.ok(
      !operator.lines.some((l) => l.level >= 40),
      `no warnings: ${JSON.stringify(operator.lines.filter((l) => l.level >= 40))}`,
    )
  })
})
