/**
 * The user story on a real single-node Kubernetes (scripts/kube/up.sh: kubelet, containerd, kube-proxy,
 * kube-scheduler; the images imported from `make image`): `helm install` the chart and its operator
 * runs as pods; `kubectl apply` a SessionCluster and its nodes run as pods; `kubectl scale` with state
 * transfer; scale-down and a rolling upgrade under load without losing anything; a force-deleted pod;
 * multicast membership over the pod network; an application from a ConfigMap (spec.applications) on
 * every pod, with the pods that run it in the status; garbage collection; and kube-down leaving the
 * machine as it found it.
 */
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { packDir } from '../helpers/archives.ts'
import { type CounterLoadResult, counterLoad, getOnce } from '../helpers/counter-load.ts'
import {
  type ControlPlane,
  eventually,
  helm,
  kubeBinaries,
  type MachineTraces,
  machineTraces,
  startControlPlane,
} from '../helpers/kube.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')
const SESSIONS = 5_000
const IMAGE = 'cattery-node:0.1.0'
// The same image under a second name (a tag in the node's containerd), for a rollout by spec.image.
const ROLLOUT_IMAGE = `${IMAGE}-rollout`
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
  image: ${IMAGE}
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
/** An admin endpoint of the pod at `ip` of SessionCluster `cluster`, with the cluster's token. */
const adminAt = async (ip: string, cluster: string, p: string) =>
  getOnce(`http://${ip}:9090${p}`, undefined, 5_000, {
    authorization: `Bearer ${await adminToken(cluster)}`,
  })
const admin = (pod: Obj, p: string) =>
  adminAt(pod.status.podIP, pod.metadata.labels['app.kubernetes.io/instance'], p)
const adminStatus = async (pod: Obj) => (await admin(pod, '/status')).body as Obj
const demoSessions = (status: Obj) => status.contexts.find((c: Obj) => c.path === '/demo').sessions as number

interface CreatedSession {
  id: string
  /** The value of its attribute `i`. */
  value: string
}

/** Creates `count` sessions through `/demo/set` on `baseUrl`, 32 at a time. */
async function createSessions(baseUrl: string, count: number): Promise<CreatedSession[]> {
  const created: CreatedSession[] = []
  let next = 0
  const worker = async () => {
    while (next < count) {
      const i = next++
      const r = await getOnce(`${baseUrl}/demo/set?k=i&v=${i}`)
      if (r.status !== 200) throw new Error(`creating session ${i}: HTTP ${r.status}`)
      created.push({ id: String(r.body.sessionId), value: String(i) })
    }
  }
  await Promise.all(Array.from({ length: 32 }, worker))
  return created
}

/** Reads each session's attribute `i` on the pod at `ip`, 32 at a time: those not read as created. */
async function unlikeCreated(ip: string, sessions: CreatedSession[]): Promise<string[]> {
  const wrong: string[] = []
  let next = 0
  const worker = async () => {
    while (next < sessions.length) {
      const s = sessions[next++] as CreatedSession
      const r = await getOnce(`http://${ip}:8080/demo/get?k=i`, `JSESSIONID=${s.id}`)
      if (r.status !== 200 || r.body.v !== s.value)
        wrong.push(`${s.id}: HTTP ${r.status}, ${JSON.stringify(r.body.v)} instead of ${s.value}`)
    }
  }
  await Promise.all(Array.from({ length: 32 }, worker))
  return wrong
}

/**
 * Runs `check` on each pod of `names` the moment a watch of its SessionCluster's pods (`kubectl get
 * -w`) shows it Ready, so that it sees the pod as it was when it turned Ready. `results` resolves with
 * what each check returned; `stop` ends the watch.
 */
function whenReady<T>(cluster: string, names: string[], check: (ip: string) => Promise<T>) {
  const watch = spawn(
    path.join(kubeBinaries(), 'kubectl'),
    [
      '--kubeconfig',
      cp.kubeconfig,
      'get',
      'pods',
      '-l',
      `app.kubernetes.io/instance=${cluster}`,
      '-w',
      '-o',
      'jsonpath={.metadata.name} {.status.podIP} {.status.conditions[?(@.type=="Ready")].status}{"\\n"}',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const checks = new Map<string, Promise<T>>()
  const results = new Promise<Record<string, T>>((resolve, reject) => {
    createInterface({ input: watch.stdout }).on('line', (line) => {
      const [name = '', ip, ready] = line.split(' ')
      if (!names.includes(name) || ready !== 'True' || !ip || checks.has(name)) return
      checks.set(name, check(ip))
      if (checks.size === names.length)
        Promise.all(names.map(async (n) => [n, (await checks.get(n)) as T] as const)).then(
          (entries) => resolve(Object.fromEntries(entries)),
          reject,
        )
    })
    watch.on('exit', (code, signal) =>
      reject(new Error(`kubectl get -w ended (${code ?? signal}) before ${names.join(', ')} were Ready`)),
    )
  })
  // Awaited by the test; a rejection after it gave up (stop) must not surface as unhandled.
  results.catch(() => undefined)
  return { results, stop: () => watch.kill() }
}

/**
 * Patches the SessionCluster shop's spec and waits for the StatefulSet's rollout to finish: a new
 * revision, every pod of it, READY 3.
 */
async function roll(t: { diagnostic(s: string): void }, what: string, spec: Obj) {
  const previous = (await cp.json('get', 'statefulset', 'shop')).status.updateRevision
  const started = performance.now()
  await cp.kubectl('patch', 'sessioncluster', 'shop', '--type=merge', '-p', JSON.stringify({ spec }))
  const revision = await eventually(
    `the rollout for ${what} to start`,
    async () => {
      const sts = await cp.json('get', 'statefulset', 'shop')
      return sts.status.updateRevision !== previous && (sts.status.updateRevision as string)
    },
    30_000,
  )
  await cp.kubectl('rollout', 'status', 'statefulset/shop', '--timeout=300s')
  await eventually('READY 3 after the rollout', async () => (await readyCount('shop')) === 3, 60_000)
  assert.deepEqual(
    (await pods('shop')).map((p) => p.metadata.labels['controller-revision-hash']),
    [revision, revision, revision],
    `every pod runs the revision of ${what}`,
  )
  t.diagnostic(`${what}: patch → rolled out: ${Math.round(performance.now() - started)} ms`)
}

describe('Cattery on a real single-node Kubernetes', { timeout: 1_200_000 }, () => {
  let clientUrl: string
  /** The machine before kube-up. */
  let machineBefore: MachineTraces
  /** The sessions created before scaling up. */
  let created: CreatedSession[] = []

  before(async () => {
    machineBefore = await machineTraces()
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
    created = await createSessions(`http://${shop0.status.podIP}:8080`, SESSIONS)
    // What each new pod holds the moment it turns Ready (nothing writes meanwhile).
    const atReady = whenReady('shop', ['shop-3', 'shop-4'], async (ip) =>
      demoSessions((await adminAt(ip, 'shop', '/status')).body),
    )
    try {
      const started = performance.now()
      await cp.kubectl('scale', 'sessioncluster/shop', '--replicas=5')
      await eventually('READY 5', async () => (await readyCount('shop')) === 5, 180_000)
      t.diagnostic(`kubectl scale → READY 5: ${Math.round(performance.now() - started)} ms`)
      assert.deepEqual(
        await atReady.results,
        { 'shop-3': SESSIONS, 'shop-4': SESSIONS },
        'the sessions each new pod held when it turned Ready',
      )
    } finally {
      atReady.stop()
    }
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

  it('under load with synchronous replication, scale 5→3 and rolling upgrades (a configuration key, then the image) answer every request, lose no session, no acknowledged increment and serve no stale read', async (t) => {
    const load = counterLoad(() => clientUrl, 16)
    let r: CounterLoadResult
    try {
      await new Promise((r) => setTimeout(r, 2_000))
      await cp.kubectl('scale', 'sessioncluster/shop', '--replicas=3')
      await eventually(
        '3 pods after scaling down',
        async () => (await pods('shop')).length === 3 && (await readyCount('shop')) === 3,
        120_000,
      )
      // Each rolls every pod, one at a time (the StatefulSet's update strategy).
      await roll(t, 'a change of a configuration key', { session: { timeout: 31 } })
      // The same image under a second name: a change of spec.image that costs no build.
      await promisify(execFile)('ctr', [
        '--address',
        path.join(cp.dir, 'containerd/containerd.sock'),
        '-n',
        'k8s.io',
        'images',
        'tag',
        '--force',
        `docker.io/library/${IMAGE}`,
        `docker.io/library/${ROLLOUT_IMAGE}`,
      ])
      await roll(t, 'a change of spec.image', { image: ROLLOUT_IMAGE })
      assert.deepEqual(
        (await pods('shop')).map((p) => p.spec.containers[0].image),
        [ROLLOUT_IMAGE, ROLLOUT_IMAGE, ROLLOUT_IMAGE],
      )
      await new Promise((r) => setTimeout(r, 1_000))
    } finally {
      // Stopped whatever happened: a load left running would keep the test process alive.
      r = await load.stop()
    }
    t.diagnostic(
      `requests ${r.requests}, acknowledged ${r.acknowledged}, sent again after a closed connection ${r.retried}, failed ${r.failed} ${JSON.stringify(r.failedBy)}`,
    )
    assert.ok(r.acknowledged > 100, `the load ran (${r.acknowledged} acknowledged)`)
    // A connection closed by a stopping pod is sent again once, as a browser would; no 5xx, no timeout.
    assert.equal(r.failed, 0, `every request answered; the first failures: ${JSON.stringify(r.failures)}`)
    assert.deepEqual(r.staleReads, [], 'no stale read')
    assert.deepEqual(r.jumps, [], 'no answer skipped values it cannot account for')
    const ps = await readyPods('shop')
    assert.equal(ps.length, 3)
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
    // Every pod holds exactly the sessions created before and the load's, and reads each of the
    // 5,000 with the value it was given.
    const loadSessions = new Set(r.clients.map((c) => c.sessionId)).size
    assert.equal(loadSessions, r.clients.length, 'each client of the load kept one session')
    const started = performance.now()
    for (const p of ps) {
      assert.equal(
        demoSessions(await adminStatus(p)),
        SESSIONS + loadSessions,
        `${p.metadata.name} holds the ${SESSIONS} sessions and the load's ${loadSessions}, no more`,
      )
      const wrong = await unlikeCreated(p.status.podIP, created)
      assert.deepEqual(wrong.slice(0, 10), [], `${p.metadata.name} reads ${wrong.length} sessions wrong`)
    }
    t.diagnostic(
      `read ${created.length} sessions on each of ${ps.length} pods: ${Math.round(performance.now() - started)} ms`,
    )
  })

  it('a pod deleted with --force --grace-period=0 under load: the sessions created on it are served by the others', async () => {
    const victim = (await readyPods('shop'))[0] as Obj
    const ids = (await createSessions(`http://${victim.status.podIP}:8080`, 50)).map((s) => s.id)
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
    const owned = async () =>
      (
        await cp.kubectl(
          'get',
          'statefulset,service,configmap,pdb,serviceaccount,role,rolebinding,networkpolicy,secret,pods',
          '-l',
          'app.kubernetes.io/instance=mc-b',
          '-o',
          'name',
        )
      )
        .split('\n')
        .filter(Boolean)
        .sort()
    assert.deepEqual(await owned(), [
      'configmap/mc-b-config',
      'networkpolicy.networking.k8s.io/mc-b',
      'pod/mc-b-0',
      'pod/mc-b-1',
      'poddisruptionbudget.policy/mc-b',
      'role.rbac.authorization.k8s.io/mc-b-node',
      'rolebinding.rbac.authorization.k8s.io/mc-b-node',
      'secret/mc-b-secrets',
      'service/mc-b',
      'service/mc-b-peers',
      'serviceaccount/mc-b-node',
      'statefulset.apps/mc-b',
    ])
    await cp.kubectl('delete', 'sessioncluster', 'mc-b')
    await eventually('mc-b’s objects to be gone', async () => (await owned()).length === 0, 120_000)
  })

  it('kube-down leaves the machine as it was: no kubepods cgroup, cni0, KUBE-* chain, mount or node file outside the data directory', async () => {
    await cp.down()
    const left = await machineTraces(cp.dir)
    assert.equal(existsSync(cp.dir), false, 'the data directory is removed')
    assert.deepEqual(left.cgroups, [], 'the kubelet’s cgroups')
    assert.deepEqual(left.links, [], 'the bridge')
    assert.deepEqual(left.chains, [], 'the kubelet’s and kube-proxy’s chains')
    assert.deepEqual(left.mounts, [], 'mounts under the data directory')
    assert.deepEqual(left.files, machineBefore.files, 'files outside the data directory')
    assert.deepEqual(left.sysctls, machineBefore.sysctls, 'sysctls')
  })
})
