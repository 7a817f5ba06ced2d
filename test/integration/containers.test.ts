/**
 * The images in containers (issue 5), through podman's API: a multicast cluster with no peer list on a
 * user-defined network, fail-over after SIGKILL, a joiner's state transfer, a clean stop on SIGTERM,
 * an application image built FROM the node image, and the operator image's health endpoint. The images come from `make image` (built from the working
 * tree: rebuild them after a change, `make test-integration` does).
 */
import assert from 'node:assert/strict'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { defaults } from '../../node/tribes/options.ts'
import {
  ADMIN_HEADERS,
  buildAppImage,
  createNetwork,
  killContainer,
  NODE_IMAGE,
  type NodeContainer,
  OPERATOR_IMAGE,
  removeAppImages,
  removeLabelled,
  requireImages,
  startNodeContainer,
  startOperatorContainer,
  stopContainer,
  useContainerEnvironment,
} from '../helpers/containers.ts'
import { cookieOf, createSessions, getJson, until } from '../helpers/http-nodes.ts'

const SESSIONS = 5_000
const DROP_TIME = defaults.multicast.dropTime

useContainerEnvironment()

const status = async (n: NodeContainer) =>
  (await getJson(`http://127.0.0.1:${n.admin}/status`, undefined, ADMIN_HEADERS)).body
const memberNames = async (n: NodeContainer): Promise<string[]> =>
  (await status(n)).members.map((m: { name: string }) => m.name).sort()
const sessionsOn = async (n: NodeContainer): Promise<number> => (await status(n)).contexts[0].sessions

/** Until each of `nodes` sees exactly `names` (less its own); resolves with the milliseconds it took. */
async function untilMembers(nodes: NodeContainer[], names: string[], timeoutMs = 10_000): Promise<number> {
  const t0 = Date.now()
  await until(
    `members ${names.join(',')}`,
    async () => {
      const views = await Promise.all(nodes.map((n) => memberNames(n)))
      return views.every((v, i) => v.join() === names.filter((x) => x !== nodes[i]?.name).join())
    },
    timeoutMs,
  )
  return Date.now() - t0
}

describe('node containers on a user-defined network, multicast membership, no peer list', () => {
  const nodes = new Map<string, NodeContainer>()
  const node = (name: string) => nodes.get(name) as NodeContainer
  let cookie = ''
  let sessionId = ''

  before(async () => {
    await removeLabelled() // what a killed run left
    await requireImages(NODE_IMAGE)
    await createNetwork(`cattery-test-${process.pid}`)
  })
  after(() => removeLabelled())

  it('three containers form a cluster', async () => {
    const started = await Promise.all(
      ['c1', 'c2', 'c3'].map((name) =>
        startNodeContainer(`cattery-test-${process.pid}`, name, { args: ['--membership', 'multicast'] }),
      ),
    )
    for (const n of started) nodes.set(n.name, n)
    await untilMembers(started, ['c1', 'c2', 'c3'])
    // Each announces its own container address, not the wildcard it listens on.
    const c1 = (await status(node('c2'))).members.find((m: { name: string }) => m.name === 'c1')
    assert.match(c1.host, /^\d+\.\d+\.\d+\.\d+$/)
    assert.notEqual(c1.host, '0.0.0.0')
    assert.notEqual(c1.host, '127.0.0.1')
  })

  it('a session created through the first container is read through the other two', async () => {
    const set = await getJson(`http://127.0.0.1:${node('c1').http}/demo/set?k=a&v=1`)
    assert.equal(set.status, 200)
    cookie = cookieOf(set.setCookie)
    assert.match(cookie, /^JSESSIONID=[^.]+\.c1$/)
    sessionId = cookie.slice('JSESSIONID='.length).split('.')[0] as string
    for (const name of ['c2', 'c3']) {
      // Wait on the admin API: a demo request with a cookie it does not know yet would create a session.
      const admin = `http://127.0.0.1:${node(name).admin}/sessions/${sessionId}.c1?context=/demo`
      await until(
        `the session on ${name}`,
        async () => (await getJson(admin, undefined, ADMIN_HEADERS)).status === 200,
      )
      const r = await getJson(`http://127.0.0.1:${node(name).http}/demo/get?k=a`, cookie)
      assert.equal(r.body.v, '1')
      assert.equal(r.body.node, name)
    }
  })

  it('after SIGKILL of the first, the others drop it within dropTime and serve its session under their route', async (t) => {
    const t0 = Date.now()
    await killContainer(node('c1').container)
    await untilMembers([node('c2'), node('c3')], ['c2', 'c3'], DROP_TIME + 5000)
    const ms = Date.now() - t0
    t.diagnostic(`c2 and c3 dropped the killed c1 after ${ms} ms (dropTime ${DROP_TIME} ms)`)
    assert.ok(ms <= DROP_TIME, `dropped after ${ms} ms, dropTime is ${DROP_TIME} ms`)
    nodes.delete('c1')
    const r = await getJson(`http://127.0.0.1:${node('c2').http}/demo/get?k=a`, cookie)
    assert.equal(r.status, 200)
    assert.equal(r.body.v, '1')
    assert.equal(cookieOf(r.setCookie), `JSESSIONID=${sessionId}.c2`)
  })

  it(`a fourth container that joins after ${SESSIONS} sessions exist is ready only once it holds all of them`, async (t) => {
    const t0 = Date.now()
    await createSessions(node('c2'), SESSIONS)
    const total = SESSIONS + 1 // and the session of the fail-over case
    await until('every session on c3', async () => (await sessionsOn(node('c3'))) === total, 30_000)
    t.diagnostic(`${SESSIONS} sessions created and replicated in ${Date.now() - t0} ms`)

    const joiner = await startNodeContainer(`cattery-test-${process.pid}`, 'c4', {
      args: ['--membership', 'multicast'],
      wait: 'live',
    })
    nodes.set('c4', joiner)
    const started = Date.now()
    await until(
      'the joiner to be ready',
      async () => (await getJson(`http://127.0.0.1:${joiner.admin}/readyz`)).status === 200,
      30_000,
    )
    t.diagnostic(`c4 ready ${Date.now() - started} ms after its admin server answered`)
    // Readiness flips where the node logs this line, with what it held at that moment.
    const ready = await joiner.waitFor((l) => l.msg === 'sessions ready')
    assert.equal(ready.sessions, total, 'the joiner became ready holding every session')
    assert.ok(
      joiner.lines.some((l) => l.msg === 'asking for all sessions' && l.time <= ready.time),
      'it asked a member for the sessions before it became ready',
    )
    assert.equal(await sessionsOn(joiner), total)
    assert.equal(await sessionsOn(node('c2')), total)
    await untilMembers([node('c2'), node('c3'), joiner], ['c2', 'c3', 'c4'])
  })

  it('on SIGTERM (podman stop) a node exits 0 and the others drop it at once, not after dropTime', async (t) => {
    const from = node('c2').lines.length
    const t0 = Date.now()
    const exitCode = await stopContainer(node('c3').container)
    assert.equal(exitCode, 0)
    await untilMembers([node('c2'), node('c4')], ['c2', 'c4'], DROP_TIME)
    const ms = Date.now() - t0
    t.diagnostic(`c3 stopped and dropped by c2 and c4 in ${ms} ms (dropTime ${DROP_TIME} ms)`)
    assert.ok(ms < DROP_TIME / 3, `dropped after ${ms} ms`)
    const gone = await node('c2').waitFor((l) => l.event === 'member-disappeared', 1000, from)
    assert.equal(gone.reason, 'shutdown')
    assert.equal(gone.member?.name, 'c3')
    const stopping = await node('c3').waitFor((l) => l.event === 'stopping')
    t.diagnostic(`c2 logged c3's departure ${gone.time - stopping.time} ms after c3 began to stop`)
    assert.ok(gone.time - stopping.time < 500)
  })
})

describe('an application image built FROM cattery-node (examples/Dockerfile.app)', () => {
  const network = `cattery-test-app-${process.pid}`
  let image = ''
  before(async () => {
    await requireImages(NODE_IMAGE)
    image = buildAppImage(path.join(import.meta.dirname, '../fixtures/apps/shop'), 'shop')
    await createNetwork(network)
  })
  after(async () => {
    await removeLabelled()
    await removeAppImages()
  })

  it('serves the application from /apps on every member, with its sessions replicated, beside the demo', async () => {
    const [a, b] = await Promise.all(
      ['shop1', 'shop2'].map((name) =>
        startNodeContainer(network, name, { image, args: ['--membership', 'multicast'] }),
      ),
    )
    const [n1, n2] = [a as NodeContainer, b as NodeContainer]
    await untilMembers([n1, n2], ['shop1', 'shop2'])
    const first = await getJson(`http://127.0.0.1:${n1.http}/shop/cart/add`)
    assert.deepEqual(first.body, { app: 'shop', node: 'shop1', items: 1 })
    const cookie = cookieOf(first.setCookie)
    await until('the cart on shop2', async () => {
      const second = await getJson(`http://127.0.0.1:${n2.http}/shop/cart/add`, cookie)
      return second.body.items === 2
    })
    const demo = await getJson(`http://127.0.0.1:${n2.http}/demo/whoami`)
    assert.equal(demo.status, 200)
  })
})

describe('the operator image', () => {
  before(async () => {
    await requireImages(OPERATOR_IMAGE)
  })
  after(() => removeLabelled())

  it('starts and answers /healthz, and /readyz 503 while no Kubernetes API is reachable', async () => {
    const op = await startOperatorContainer()
    const base = `http://127.0.0.1:${op.getMappedPort(8081)}`
    const health = await getJson(`${base}/healthz`)
    assert.equal(health.status, 200)
    assert.deepEqual(health.body, { ok: true })
    const ready = await getJson(`${base}/readyz`)
    assert.equal(ready.status, 503)
    assert.equal(ready.body.synced, false)
    const metrics = await fetch(`http://127.0.0.1:${op.getMappedPort(8080)}/metrics`)
    assert.equal(metrics.status, 200)
  })
})
