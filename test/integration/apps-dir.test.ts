import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { packDir } from '../helpers/archives.ts'
import {
  cookieOf,
  formed,
  getJson,
  type HttpNode,
  planCluster,
  started,
  startHttpNode,
  status,
  until,
} from '../helpers/http-nodes.ts'

/** Writes `files` (path → content) under `dir`. */
function write(dir: string, files: Record<string, string>): void {
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, p)), { recursive: true })
    writeFileSync(path.join(dir, p), content)
  }
}

const pkg = (o: Record<string, unknown>) => JSON.stringify({ type: 'module', version: '1.0.0', ...o })
const counter = (label: string) => `
export default async function (app, opts) {
  app.get('/inc', async (req) => {
    const count = (Number(req.session.get('count')) || 0) + 1
    req.session.set('count', count)
    return { app: ${JSON.stringify(label)}, node: opts.jvmRoute, path: opts.path, count }
  })
}
`

/**
 * An app base with three good applications (a directory, an npm-packed .tgz, and few: mounted at its
 * cattery.path /limited with at most 2 sessions) and four bad ones (shop-copy asks for /shop, which
 * shop, first by name, has).
 */
async function appBase(): Promise<string> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'cattery-apps-'))
  const apps = path.join(root, 'apps')
  write(path.join(apps, 'shop'), {
    'package.json': pkg({ exports: './index.js', cattery: { manager: { maxActiveSessions: 1000 } } }),
    // Its dependency is bundled in its own node_modules.
    'node_modules/greeting/package.json': pkg({ name: 'greeting', exports: './index.js' }),
    'node_modules/greeting/index.js': "export const greet = (who) => 'hello ' + who\n",
    'index.js': `import { greet } from 'greeting'
${counter('shop')}
export const extra = 1
`.replace("app.get('/inc'", "app.get('/hello', async () => ({ text: greet('shop') }))\n  app.get('/inc'"),
  })
  const cart = path.join(root, 'cart-src')
  write(cart, { 'package.json': pkg({ main: 'lib/app.js' }), 'lib/app.js': counter('cart') })
  await packDir(cart, path.join(apps, 'cart#v2.tgz'), 'package')
  write(path.join(apps, 'few'), {
    'package.json': pkg({ cattery: { path: '/limited', manager: { maxActiveSessions: 2 } } }),
    'index.js': counter('few'),
  })
  write(path.join(apps, 'noentry'), { 'package.json': pkg({ main: 'missing.js' }) })
  write(path.join(apps, 'throws'), {
    'package.json': pkg({}),
    'index.js': "export default async function () { throw new Error('no database configured') }\n",
  })
  write(path.join(apps, 'shop-copy'), {
    'package.json': pkg({ cattery: { path: '/shop' } }),
    'index.js': counter('shop-copy'),
  })
  write(path.join(apps, 'badconfig'), {
    'package.json': pkg({ cattery: { manager: { maxActiveSesions: 5 } } }),
    'index.js': counter('badconfig'),
  })
  return apps
}

describe('applications from --apps-dir on 3 node processes', () => {
  let nodes: HttpNode[] = []
  /** Per node, what /shop/hello answered the moment its /readyz first answered 200. */
  let atReady: Array<Promise<{ status: number; body: unknown } | Error>> = []
  before(async () => {
    const apps = await appBase()
    const plan = await planCluster(3)
    nodes = await Promise.all([0, 1, 2].map((i) => startHttpNode(plan, i, ['--apps-dir', apps])))
    atReady = nodes.map((n) =>
      until(
        `${n.name} ready`,
        async () =>
          (await getJson(`http://127.0.0.1:${n.admin}/readyz`).catch(() => undefined))?.status === 200,
        30_000,
      ).then(
        () => getJson(`http://127.0.0.1:${n.http}/shop/hello`),
        (err: Error) => err,
      ),
    )
    await Promise.all(nodes.map((n) => started(n)))
    await formed(nodes)
  })
  after(() => Promise.all(nodes.map((n) => n.process.stop('SIGKILL'))))

  for (const [kind, prefix, label] of [
    ['a directory', '/shop', 'shop'],
    ['a .tgz', '/cart/v2', 'cart'],
  ] as const) {
    it(`serves ${kind} on every node, with its session replicated to the others`, async () => {
      const [a, b, c] = nodes as [HttpNode, HttpNode, HttpNode]
      const first = await getJson(`http://127.0.0.1:${a.http}${prefix}/inc`)
      assert.deepEqual(first.body, { app: label, node: 'n1', path: prefix, count: 1 })
      assert.match(String(first.setCookie), new RegExp(`Path=${prefix.replace('/', '\\/')}`))
      const cookie = cookieOf(first.setCookie)
      let expected = 1
      for (const n of [b, c]) {
        expected++
        const r = await until(`the ${label} session on ${n.name}`, async () => {
          const got = await getJson(`http://127.0.0.1:${n.http}${prefix}/inc`, cookie)
          return got.body.count === expected && got
        })
        assert.equal(r.body.node, n.name)
        // n1 lives: its route is kept (the JvmRouteBinder rewrites only a lost member's route).
        assert.ok(!r.setCookie?.includes('JSESSIONID='), 'no new session cookie')
      }
    })
  }

  it('loads the app base before the node reports ready', async () => {
    for (const [i, n] of nodes.entries()) {
      const r = await atReady[i]
      assert.ok(r && !(r instanceof Error), String(r))
      assert.deepEqual([r.status, r.body], [200, { text: 'hello shop' }], `${n.name} at its first ready`)
      const log = n.process.lines
      const startedAt = log.findIndex((l) => l.event === 'started')
      for (const app of ['cart#v2', 'few', 'shop']) {
        const at = log.findIndex((l) => l.event === 'app-deployed' && l.app === app)
        assert.ok(at >= 0 && at < startedAt, `${app} deployed before ${n.name} started`)
      }
    }
  })

  it("mounts an application at its package.json's cattery.path and holds it to its own maxActiveSessions", async () => {
    const n1 = nodes[0] as HttpNode
    const inc = () => getJson(`http://127.0.0.1:${n1.http}/limited/inc`)
    const first = await inc()
    assert.deepEqual(first.body, { app: 'few', node: 'n1', path: '/limited', count: 1 })
    assert.match(String(first.setCookie), /Path=\/limited/)
    assert.equal((await getJson(`http://127.0.0.1:${n1.http}/few/inc`)).body.code, 'CATTERY_ERR_NO_CONTEXT')
    assert.equal((await inc()).status, 200)
    const third = await inc()
    assert.equal(third.status, 503)
    assert.equal(third.body.code, 'CATTERY_ERR_TOO_MANY_SESSIONS')
    // The node's bound (none) holds for an application that sets none: cart#v2 takes a third session.
    for (let i = 0; i < 3; i++)
      assert.equal((await getJson(`http://127.0.0.1:${n1.http}/cart/v2/inc`)).status, 200)
    const s = await status(n1)
    const few = s.contexts.find((c: { path: string }) => c.path === '/limited')
    assert.deepEqual([few?.name, few?.sessions, few?.stats.rejected], ['few', 2, 1])
  })

  it('loads the dependencies an application bundles', async () => {
    const r = await getJson(`http://127.0.0.1:${nodes[0]?.http}/shop/hello`)
    assert.deepEqual(r.body, { text: 'hello shop' })
  })

  it('refuses each bad application with a coded error naming it, lists it in /status, and logs it', async () => {
    const s = await status(nodes[1] as HttpNode)
    type Refused = { name: string; code: string; reason: string }
    const list = s.refusedApplications as Refused[]
    const refused = (name: string): Refused =>
      list.find((r) => r.name === name) ?? assert.fail(`${name} not refused`)
    assert.deepEqual(list.map((r) => r.name).sort(), ['badconfig', 'noentry', 'shop-copy', 'throws'])
    assert.equal(refused('noentry').code, 'CATTERY_ERR_APP_NO_ENTRY')
    assert.match(refused('noentry').reason, /^application noentry: its entry missing.js does not exist/)
    assert.equal(refused('throws').code, 'CATTERY_ERR_APP_REGISTER_FAILED')
    assert.match(refused('throws').reason, /^application throws: .*no database configured/)
    assert.equal(refused('shop-copy').code, 'CATTERY_ERR_APP_PATH_CLASH')
    assert.match(
      refused('shop-copy').reason,
      /^application shop-copy: the path \/shop is already served by application shop/,
    )
    assert.equal(refused('badconfig').code, 'CATTERY_ERR_APP_CONFIG')
    assert.match(refused('badconfig').reason, /cattery\.manager\.maxActiveSesions: unknown key/)
    assert.deepEqual(
      (s.contexts as Array<{ name: string; path: string; ready: boolean }>)
        .map((c) => [c.name, c.path, c.ready])
        .sort(),
      [
        ['cart#v2', '/cart/v2', true],
        ['few', '/limited', true],
        ['shop', '/shop', true],
      ],
    )
    const logged = await nodes[1]?.process.waitFor((l) => l.event === 'app-refused' && l.name === 'throws')
    assert.equal(logged?.code, 'CATTERY_ERR_APP_REGISTER_FAILED')
    // No demo in this app base: nothing at /demo.
    const demo = await getJson(`http://127.0.0.1:${nodes[0]?.http}/demo/inc`)
    assert.equal(demo.status, 404)
    assert.equal(demo.body.code, 'CATTERY_ERR_NO_CONTEXT')
  })
})
