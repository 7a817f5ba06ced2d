/**
 * The user story on a real single-node Kubernetes (scripts/kube/up.sh: kubelet, containerd, kube-proxy,
 * kube-scheduler; the images imported from `make image`): `helm install` the chart and its operator
 * runs as pods; `kubectl apply` a SessionCluster and its nodes run as pods; `kubectl scale` with state
 * transfer; scale-down and a rolling upgrade under load without losing anything; a force-deleted pod;
 * multicast membership over the pod network; an application from a ConfigMap (spec.applications) on
 * every pod, with the pods that run it in the status; garbage collection.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { packDir } from '../helpers/archives.ts'
import { counterLoad, getOnce } from '../helpers/counter-load.ts'
import { type ControlPlane, eventually, helm, startControlPlane } from '../helpers/kube.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')
const SESSIONS = 5_000
// biome-ignore lint/suspicious/noExplicitAny: API objects are read freely
type Obj = Record<string, any>

let cp: ControlPlane

const apply = (name: string, yaml: string) => {
  const file = path.join(cp.dir, `${name}.yaml`)
  writeFileSync(file, yaml)
  return cp.kubectl('apply', '-f', file)
}
// The SessionClusters live in a namespace that enforces Pod Security "restricted".
const NS = 'shop'
const sessionCluster = (name: string, replicas: number, spec = '') => `apiVersion: cattery.dev/v1alpha1
kind: SessionCluster
metadata: {name: ${name}, namespace: ${NS}}
spec:
  replicas: ${replicas}
  image: cattery-node:0.1.0
  session: {timeout: 30}
${spec}`

const pods = async (cluster: string): Promise<Obj[]> =>
  (await cp.json<{ items: Obj[] }>('get', 'pods', '-l', `app.kubernetes.io/instance=${cluster}`)).items
const readyPods = async (cluster: string) =>
  (await pods(cluster)).filter(
    (p) =>
      !p.metadata.deletionTimestamp &&
      p.status.conditions?.some((c: Obj) => c.type === 'Ready' && c.status === 'True'),
  )
const readyCount = async (cluster: string) =>
  Number((await cp.json('get', 'sessioncluster', cluster)).status?.readyReplicas ?? 0)
/** The admin token of a SessionCluster, from the Secret the operator made for it. */
const tokens = new Map<string, string>()
async function adminToken(cluster: string): Promise<string> {
  const known = tokens.get(cluster)
  if (known) return known
  const s = await cp.json('get', 'secret', `${cluster}-secrets`)
  const token = Buffer.from(s.data['admin-token'], 'base64').toString()
  tokens.set(cluster, token)
  return token
}
/** An admin endpoint of a pod, with its cluster's token. */
const admin = async (pod: Obj, p: string) =>
  getOnce(`http://${pod.status.podIP}:9090${p}`, undefined, 5_000, {
    authorization: `Bearer ${await adminToken(pod.metadata.labels['app.kubernetes.io/instance'])}`,
  })
const adminStatus = async (pod: Obj) => (await admin(pod, '/status')).body as Obj
const demoSessions = (status: Obj) => status.contexts.find((c: Obj) => c.path === '/demo').sessions as number

/** Creates `count` sessions through `/demo/set` on `baseUrl`, 32 at a time; returns their ids. */
async function createSessions(baseUrl: string, count: number): Promise<string[]> {
  const ids: string[] = []
  let next = 0
  const worker = async () => {
    while (next < count) {
      const i = next++
      const r = await getOnce(`${baseUrl}/demo/set?k=i&v=${i}`)
      if (r.status !== 200) throw new Error(`creating session ${i}: HTTP ${r.status}`)
      ids.push(String(r.body.sessionId))
    }
  }
  await Promise.all(Array.from({ length: 32 }, worker))
  return ids
}

describe('Cattery on a real single-node Kubernetes', { timeout: 1_200_000 }, () => {
  let clientUrl: string

  before(async () => {
    cp = await startControlPlane({ node: true })
    await cp.kubectl('create', 'namespace', NS)
    await cp.kubectl('label', 'namespace', NS, 'pod-security.kubernetes.io/enforce=restricted')
    await cp.kubectl('config', 'set-context', '--current', `--namespace=${NS}`)
  })
  after(async () => {
    await cp?.down()
  })

  it('helm install: the chart’s operator runs as pods with its service account and becomes Ready', async () => {
    await helm(
      cp,
      'install',
      'cattery',
      path.join(ROOT, 'charts/cattery-operator'),
      '-n',
      'cattery-system',
      '--create-namespace',
    )
    await cp.kubectl('-n', 'cattery-system', 'rollout', 'status', 'deployment', '--timeout=120s')
    const ops = (await cp.json<{ items: Obj[] }>('-n', 'cattery-system', 'get', 'pods')).items
    assert.equal(ops.length, 2)
    for (const p of ops) {
      assert.equal(p.spec.serviceAccountName, 'cattery-cattery-operator')
      assert.ok(p.status.conditions.some((c: Obj) => c.type === 'Ready' && c.status === 'True'))
    }
    const lease = await eventually('a leader', async () => {
      const l = await cp.json('-n', 'cattery-system', 'get', 'lease', 'cattery-operator')
      return l.spec?.holderIdentity ? l : undefined
    })
    assert.ok(ops.some((p) => lease.spec.holderIdentity.startsWith(p.metadata.name)))
  })

  it('kubectl apply: a 3-replica SessionCluster becomes 3 Running, Ready node pods and READY 3', async () => {
    await apply('shop', sessionCluster('shop', 3, '  channel: {sendOptions: 6}\n'))
    await eventually('READY 3', async () => (await readyCount('shop')) === 3, 120_000)
    const ps = await readyPods('shop')
    assert.deepEqual(ps.map((p) => p.metadata.name).sort(), ['shop-0', 'shop-1', 'shop-2'])
    const table = await cp.kubectl('get', 'scluster', 'shop')
    assert.match(table, /shop\s+3\s+3\s+delta/)
    const sc = await cp.json('get', 'sessioncluster', 'shop')
    assert.deepEqual(sc.status.members.map((m: Obj) => m.name).sort(), ['shop-0', 'shop-1', 'shop-2'])
    for (const p of ps) assert.equal((await adminStatus(p)).members.length, 2)
    const svc = await cp.json('get', 'service', 'shop')
    clientUrl = `http://${svc.spec.clusterIP}:80`
  })

  it(`kubectl scale --replicas=5: each new pod becomes Ready holding all ${SESSIONS} sessions`, async (t) => {
    const shop0 = (await pods('shop')).find((p) => p.metadata.name === 'shop-0') as Obj
    await createSessions(`http://${shop0.status.podIP}:8080`, SESSIONS)
    const started = performance.now()
    await cp.kubectl('scale', 'sessioncluster/shop', '--replicas=5')
    await eventually('READY 5', async () => (await readyCount('shop')) === 5, 180_000)
    t.diagnostic(`kubectl scale → READY 5: ${Math.round(performance.now() - started)} ms`)
    assert.match(await cp.kubectl('get', 'scluster', 'shop'), /shop\s+5\s+5\s+delta/)
    for (const name of ['shop-3', 'shop-4']) {
      const p = (await pods('shop')).find((x) => x.metadata.name === name) as Obj
      assert.equal(demoSessions(await adminStatus(p)), SESSIONS, `${name} holds every session`)
    }
    const sc = await cp.json('get', 'sessioncluster', 'shop')
    assert.deepEqual(sc.status.members.map((m: Obj) => m.name).sort(), [
      'shop-0',
      'shop-1',
      'shop-2',
      'shop-3',
      'shop-4',
    ])
  })

  it('under load with synchronous replication, scale 5→3 and a rolling upgrade lose no session, no acknowledged increment and serve no stale read', async (t) => {
    const load = counterLoad(() => clientUrl, 16)
    await new Promise((r) => setTimeout(r, 2_000))
    await cp.kubectl('scale', 'sessioncluster/shop', '--replicas=3')
    await eventually(
      '3 pods after scaling down',
      async () => (await pods('shop')).length === 3 && (await readyCount('shop')) === 3,
      120_000,
    )
    // A change of a configuration key rolls every pod, one at a time.
    await cp.kubectl(
      'patch',
      'sessioncluster',
      'shop',
      '--type=merge',
      '-p',
      '{"spec":{"session":{"timeout":31}}}',
    )
    await eventually(
      'the rollout to start',
      async () => {
        const sts = await cp.json('get', 'statefulset', 'shop')
        return sts.status.updateRevision !== sts.status.currentRevision
      },
      30_000,
    )
    await cp.kubectl('rollout', 'status', 'statefulset/shop', '--timeout=300s')
    await eventually('READY 3 after the rollout', async () => (await readyCount('shop')) === 3, 60_000)
    await new Promise((r) => setTimeout(r, 1_000))
    const r = await load.stop()
    t.diagnostic(`requests ${r.requests}, acknowledged ${r.acknowledged}, failed without answer ${r.failed}`)
    assert.ok(r.acknowledged > 100, `the load ran (${r.acknowledged} acknowledged)`)
    assert.deepEqual(r.staleReads, [], 'no stale read')
    assert.deepEqual(r.jumps, [], 'no answer skipped values it cannot account for')
    const ps = await readyPods('shop')
    let lost = 0
    for (const c of r.clients) {
      for (const p of ps) {
        const s = await admin(p, `/sessions/${c.sessionId}`)
        assert.equal(s.status, 200, `${p.metadata.name} holds session ${c.sessionId}`)
        // Values are not shown by the admin server (admin.showSessionValues): read it as the app does.
        const read = await getOnce(
          `http://${p.status.podIP}:8080/demo/get?k=count`,
          `JSESSIONID=${c.sessionId}`,
        )
        const count = Number(read.body.v)
        if (count < c.acked) lost += c.acked - count
      }
    }
    assert.equal(lost, 0, 'no acknowledged increment lost')
    for (const p of ps)
      assert.ok(demoSessions(await adminStatus(p)) >= SESSIONS, `${p.metadata.name} kept every session`)
  })

  it('a pod deleted with --force --grace-period=0 under load: the sessions created on it are served by the others', async () => {
    const victim = (await readyPods('shop'))[0] as Obj
    const ids = await createSessions(`http://${victim.status.podIP}:8080`, 50)
    const load = counterLoad(() => clientUrl, 8)
    let r: Awaited<ReturnType<typeof load.stop>>
    try {
      await cp.kubectl('delete', 'pod', victim.metadata.name, '--force', '--grace-period=0')
      await new Promise((r) => setTimeout(r, 1_000))
      const others = (await readyPods('shop')).filter((p) => p.metadata.uid !== victim.metadata.uid)
      assert.ok(others.length >= 2)
      for (const id of ids) {
        for (const p of others) {
          const got = await getOnce(`http://${p.status.podIP}:8080/demo/get?k=i`, `JSESSIONID=${id}`)
          assert.equal(got.status, 200)
          assert.notEqual(got.body.v, null, `${p.metadata.name} serves session ${id}`)
        }
      }
    } finally {
      // Stopped whatever happened: a load left running would keep the test process alive.
      r = await load.stop()
    }
    assert.deepEqual(r.staleReads, [])
    await eventually('READY 3 again', async () => (await readyCount('shop')) === 3, 120_000)
  })

  it('a multicast SessionCluster of 3 pods forms with no peer list; a second one in the namespace stays separate', async () => {
    await apply('mc-a', sessionCluster('mc-a', 3, '  membership: {type: multicast}\n'))
    await apply('mc-b', sessionCluster('mc-b', 2, '  membership: {type: multicast}\n'))
    await eventually(
      'READY 3 and 2',
      async () => (await readyCount('mc-a')) === 3 && (await readyCount('mc-b')) === 2,
      180_000,
    )
    const views = async (cluster: string) =>
      Object.fromEntries(
        await Promise.all(
          (await readyPods(cluster)).map(async (p) => [
            p.metadata.name,
            (await adminStatus(p)).members.map((m: Obj) => m.name).sort(),
          ]),
        ),
      )
    const want = {
      'mc-a': {
        'mc-a-0': ['mc-a-1', 'mc-a-2'],
        'mc-a-1': ['mc-a-0', 'mc-a-2'],
        'mc-a-2': ['mc-a-0', 'mc-a-1'],
      },
      'mc-b': { 'mc-b-0': ['mc-b-1'], 'mc-b-1': ['mc-b-0'] },
    }
    let seen: Obj = {}
    await eventually(
      'each multicast pod to see exactly the other pods of its own SessionCluster',
      async () => {
        seen = { 'mc-a': await views('mc-a'), 'mc-b': await views('mc-b') }
        return JSON.stringify(seen) === JSON.stringify(want)
      },
      30_000,
    ).catch(() => undefined)
    assert.deepEqual(seen, want)
  })

  it('spec.applications: an application from a ConfigMap serves on all 3 pods with replicated sessions; status lists its digest and the 3 pods as members', async (t) => {
    const started = performance.now()
    const archive = path.join(cp.dir, 'shop-app.tgz')
    await packDir(path.join(ROOT, 'test/fixtures/apps/shop'), archive)
    const digest = createHash('sha256').update(readFileSync(archive)).digest('hex')
    await cp.kubectl('create', 'configmap', 'shop-app', `--from-file=app.tgz=${archive}`)
    await apply(
      'apps',
      sessionCluster(
        'apps',
        3,
        '  channel: {sendOptions: 6}\n  applications:\n    - {name: shop, configMap: shop-app}\n',
      ),
    )
    await eventually('READY 3', async () => (await readyCount('apps')) === 3, 180_000)
    t.diagnostic(`kubectl apply → READY 3: ${Math.round(performance.now() - started)} ms`)
    const row = await eventually(
      'status.applications to list the 3 pods as members of the ConfigMap’s digest',
      async () => {
        const a = (await cp.json('get', 'sessioncluster', 'apps')).status?.applications?.[0]
        return a?.members?.length === 3 && a
      },
      60_000,
    )
    t.diagnostic(`kubectl apply → 3 members in status: ${Math.round(performance.now() - started)} ms`)
    assert.deepEqual(row, {
      name: 'shop',
      configMap: 'shop-app',
      digest,
      members: ['apps-0', 'apps-1', 'apps-2'],
    })
    // The operator (pods in cattery-system) may reach the pods' admin port under their NetworkPolicy.
    const np = await cp.json('get', 'networkpolicy', 'apps')
    assert.deepEqual(np.spec.ingress[2].from[0].namespaceSelector.matchLabels, {
      'kubernetes.io/metadata.name': 'cattery-system',
    })
    // One session, one request on each pod in turn: each sees the previous pod's write.
    let cookie: string | undefined
    const ps = (await readyPods('apps')).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
    assert.equal(ps.length, 3)
    for (const [i, p] of ps.entries()) {
      const r = await getOnce(`http://${p.status.podIP}:8080/shop/cart/add`, cookie)
      assert.equal(r.status, 200, `${p.metadata.name} serves /shop`)
      assert.deepEqual([r.body.app, r.body.items], ['shop', i + 1], `${p.metadata.name} sees the session`)
      // A new id only when the JvmRouteBinder rewrote it (it leaves a live pod's route alone).
      cookie = /JSESSIONID=[^;]+/.exec(r.setCookie ?? '')?.[0] ?? cookie
    }
  })

  it('deleting a SessionCluster garbage-collects every object it owned', async () => {
    await cp.kubectl('delete', 'sessioncluster', 'mc-b')
    await eventually(
      'mc-b’s objects to be gone',
      async () => {
        const left = await cp.kubectl(
          'get',
          'statefulset,service,configmap,pdb,serviceaccount,role,rolebinding,networkpolicy,secret,pods',
          '-l',
          'app.kubernetes.io/instance=mc-b',
          '-o',
          'name',
        )
        return left.trim() === ''
      },
      120_000,
    )
  })
})
