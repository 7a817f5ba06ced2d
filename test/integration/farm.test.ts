import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { gzipSync } from 'node:zlib'
import { packDir, rawTgz } from '../helpers/archives.ts'
import {
  type ClusterPlan,
  cookieOf,
  getJson,
  type HttpNode,
  planCluster,
  started,
  startHttpNode,
  until,
} from '../helpers/http-nodes.ts'

const TOKEN = 'farm-test-token'
const auth = { authorization: `Bearer ${TOKEN}` }

const app = (label: string, prelude = '') => `
export default async function (app, opts) {
  ${prelude}
  app.get('/version', async () => ({ version: ${JSON.stringify(label)}, node: opts.jvmRoute }))
  app.get('/inc', async (req) => {
    const count = (Number(req.session.get('count')) || 0) + 1
    req.session.set('count', count)
    return { version: ${JSON.stringify(label)}, node: opts.jvmRoute, count }
  })
}
`

/**
 * A packed application answering /version with `label`; `cattery`: its package.json's settings;
 * `prelude`: code its plugin runs first.
 */
async function archive(
  root: string,
  label: string,
  o: { cattery?: Record<string, unknown>; prelude?: string } = {},
): Promise<Buffer> {
  const src = mkdtempSync(path.join(root, 'src-'))
  writeFileSync(
    path.join(src, 'package.json'),
    JSON.stringify({ type: 'module', version: label, main: 'index.js', cattery: o.cattery }),
  )
  writeFileSync(path.join(src, 'index.js'), app(label, o.prelude))
  const file = path.join(src, '..', `${path.basename(src)}.tgz`)
  await packDir(src, file, 'package')
  return readFileSync(file)
}

/** Writes `bytes` as `dir/name` atomically (a rename), as a deploy tool should. */
function drop(dir: string, name: string, bytes: Buffer): void {
  const tmp = path.join(dir, `.${name}.tmp`)
  writeFileSync(tmp, bytes)
  renameSync(tmp, path.join(dir, name))
}

/** Every file under `dir` (relative paths), for checking that nothing was written. */
function filesUnder(dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true }))
    out.push(path.relative(dir, path.join(e.parentPath, e.name)))
  return out.sort()
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex')

describe('farm deployment on 3 node processes (and a 4th that joins)', () => {
  let root: string
  let plan: ClusterPlan
  const nodes: HttpNode[] = []
  const dirs = (i: number) => ({
    watch: path.join(root, `n${i + 1}`, 'watch'),
    deploy: path.join(root, `n${i + 1}`, 'deploy'),
    temp: path.join(root, `n${i + 1}`, 'temp'),
  })
  const start = (i: number) => {
    const d = dirs(i)
    for (const p of Object.values(d)) mkdirSync(p, { recursive: true })
    return startHttpNode(plan, i, [
      '--config',
      path.join(root, 'node.yaml'),
      '--farm-watch-dir',
      d.watch,
      '--farm-deploy-dir',
      d.deploy,
      '--farm-temp-dir',
      d.temp,
      '--admin-token',
      TOKEN,
    ])
  }
  const statusOf = async (n: HttpNode) =>
    (await getJson(`http://127.0.0.1:${n.admin}/status`, undefined, auth)).body
  const version = async (n: HttpNode, prefix: string) =>
    (await getJson(`http://127.0.0.1:${n.http}${prefix}/version`)).body?.version
  const upload = (n: HttpNode, name: string, body: Buffer) =>
    fetch(`http://127.0.0.1:${n.admin}/apps/${name}`, { method: 'PUT', body, headers: auth })
  const remove = (n: HttpNode, name: string) =>
    fetch(`http://127.0.0.1:${n.admin}/apps/${name}`, { method: 'DELETE', headers: auth })
  // biome-ignore lint/suspicious/noExplicitAny: /status as the node answers it
  const farmApp = (s: any, name: string) => s.farm.applications.find((a: { name: string }) => a.name === name)
  const everywhere = (what: string, prefix: string, want: string | undefined, on = nodes) =>
    until(
      `${what} on ${on.map((n) => n.name).join(', ')}`,
      async () => (await Promise.all(on.map((n) => version(n, prefix)))).every((v) => v === want),
      20_000,
    )

  before(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'cattery-farm-'))
    // Watch every 0.2 s; small archive bounds so a zip bomb is quick to make.
    writeFileSync(
      path.join(root, 'node.yaml'),
      'manager:\n  backgroundProcessorDelay: 0.1\nfarm:\n  processDeployFrequency: 2\napps:\n  maxArchiveBytes: 4194304\n  maxUnpackedBytes: 4194304\n',
    )
    plan = await planCluster(4)
    nodes.push(...(await Promise.all([0, 1, 2].map(start))))
    await Promise.all(nodes.map((n) => started(n)))
    await until('the cluster to form', async () =>
      (await Promise.all(nodes.map(statusOf))).every((s) => s.members.length === 2),
    )
  })
  after(() => Promise.all(nodes.map((n) => n.process.stop('SIGKILL'))))

  it("serves an archive dropped into one member's watch directory on all three, and lists it in every /status", async () => {
    drop(dirs(0).watch, 'shop.tgz', await archive(root, 'v1'))
    await everywhere('shop v1', '/shop', 'v1')
    await until('every member to list shop as run by all three', async () =>
      (await Promise.all(nodes.map(statusOf))).every((s) => {
        const shop = s.farm.applications.find((a: { name: string }) => a.name === 'shop')
        return (
          shop && shop.members.join(',') === 'n1,n2,n3' && shop.origin === 'n1' && shop.failures.length === 0
        )
      }),
    )
  })

  it('redeploys a replaced archive everywhere and keeps the sessions', async () => {
    const [a, b, c] = nodes as [HttpNode, HttpNode, HttpNode]
    const first = await getJson(`http://127.0.0.1:${b.http}/shop/inc`)
    assert.equal(first.body.count, 1)
    const cookie = cookieOf(first.setCookie)
    drop(dirs(0).watch, 'shop.tgz', await archive(root, 'v2'))
    await everywhere('shop v2', '/shop', 'v2')
    const again = await until('the session on n3', async () => {
      const r = await getJson(`http://127.0.0.1:${c.http}/shop/inc`, cookie)
      return r.body.count === 2 && r
    })
    assert.equal(again.body.version, 'v2')
    // The old version's directory is gone; the new one is the only one.
    assert.equal(readdirSync(path.join(dirs(1).deploy, 'shop')).length, 1)
    void a
  })

  it('gives a fourth member that joins afterwards the applications before it reports ready', async () => {
    const d = start(3)
    nodes.push(await d)
    const n4 = nodes[3] as HttpNode
    const ready = await until(
      'n4 ready',
      async () =>
        (await getJson(`http://127.0.0.1:${n4.admin}/readyz`).catch(() => undefined))?.status === 200,
      30_000,
    )
    assert.ok(ready)
    // The moment it is ready, it serves the current version (nothing was dropped into its watch dir).
    assert.equal(await version(n4, '/shop'), 'v2')
    const log = n4.process.lines
    const deployedAt = log.findIndex((l) => l.event === 'farm-deployed' && l.app === 'shop')
    const startedAt = log.findIndex((l) => l.event === 'started')
    assert.ok(deployedAt >= 0 && deployedAt < startedAt, 'deployed before the node started serving')
    assert.deepEqual(readdirSync(dirs(3).watch), [])
  })

  it('deploys and undeploys through PUT and DELETE /apps/<name> on every member', async () => {
    const n2 = nodes[1] as HttpNode
    const bytes = await archive(root, 'c1')
    const url = `http://127.0.0.1:${n2.admin}/apps/cart%23v2`
    const anonymous = await fetch(url, { method: 'PUT', body: bytes })
    assert.equal(anonymous.status, 401)
    const put = await fetch(url, { method: 'PUT', body: bytes, headers: auth })
    assert.equal(put.status, 201)
    assert.deepEqual(await put.json(), {
      name: 'cart#v2',
      digest: sha256(bytes),
      created: true,
      changed: true,
    })
    await everywhere('cart#v2', '/cart/v2', 'c1')
    const same = await fetch(url, { method: 'PUT', body: bytes, headers: auth })
    assert.equal(same.status, 200)
    assert.equal(((await same.json()) as { changed: boolean }).changed, false)
    const del = await fetch(url, { method: 'DELETE', headers: auth })
    assert.equal(del.status, 200)
    await everywhere('cart#v2 gone', '/cart/v2', undefined)
    const missing = await fetch(url, { method: 'DELETE', headers: auth })
    assert.equal(missing.status, 404)
    assert.equal(((await missing.json()) as { code: string }).code, 'CATTERY_ERR_APP_NOT_DEPLOYED')
  })

  it('converges every member on one digest when two members deploy one name at once', async () => {
    const [x, y] = [await archive(root, 'x'), await archive(root, 'y')]
    const put = (n: HttpNode, body: Buffer) =>
      fetch(`http://127.0.0.1:${n.admin}/apps/race`, { method: 'PUT', body, headers: auth })
    const answers = await Promise.all([put(nodes[0] as HttpNode, x), put(nodes[1] as HttpNode, y)])
    for (const r of answers) assert.ok([200, 201].includes(r.status), `PUT answered ${r.status}`)
    const settled = await until(
      'one digest of race on every member, run by all four',
      async () => {
        const all = await Promise.all(nodes.map(statusOf))
        const apps = all.map((s) => s.farm.applications.find((a: { name: string }) => a.name === 'race'))
        const digests = new Set(apps.map((a) => a?.digest))
        return digests.size === 1 && apps[0]?.members.length === nodes.length && apps[0]
      },
      20_000,
    )
    assert.ok([sha256(x), sha256(y)].includes(settled.digest))
    const want = settled.digest === sha256(x) ? 'x' : 'y'
    await everywhere(`race ${want}`, '/race', want)
    const del = await fetch(`http://127.0.0.1:${nodes[2]?.admin}/apps/race`, {
      method: 'DELETE',
      headers: auth,
    })
    assert.equal(del.status, 200)
    await everywhere('race gone', '/race', undefined)
  })

  it('undeploys everywhere when the watched archive is deleted', async () => {
    rmSync(path.join(dirs(0).watch, 'shop.tgz'))
    await everywhere('shop gone', '/shop', undefined)
    const s = await statusOf(nodes[2] as HttpNode)
    assert.deepEqual(s.farm.applications, [])
  })

  it("lists a deploy that runs on some members and fails on one in every member's /status, with that member and the reason", async () => {
    const body = await archive(root, 'p1', {
      prelude: "if (opts.jvmRoute === 'n2') throw new Error('no database on n2')",
    })
    const put = await upload(nodes[0] as HttpNode, 'partial', body)
    assert.equal(put.status, 201)
    const runs = nodes.filter((n) => n.name !== 'n2')
    await everywhere('partial p1', '/partial', 'p1', runs)
    const reason = 'application partial: registering its plugin failed: no database on n2'
    await until('every member to list partial as run by the others and failed on n2', async () =>
      (await Promise.all(nodes.map(statusOf))).every((s) => {
        const a = farmApp(s, 'partial')
        return (
          a?.digest === sha256(body) &&
          a.members.join(',') === runs.map((n) => n.name).join(',') &&
          JSON.stringify(a.failures) ===
            JSON.stringify([{ member: 'n2', code: 'CATTERY_ERR_APP_REGISTER_FAILED', reason }])
        )
      }),
    )
    assert.equal((await getJson(`http://127.0.0.1:${nodes[1]?.http}/partial/version`)).status, 404)
    const logged = await (nodes[1] as HttpNode).process.waitFor(
      (l) => l.event === 'farm-deploy-failed' && l.app === 'partial',
    )
    assert.deepEqual(
      [logged.name, logged.code, logged.reason],
      ['n2', 'CATTERY_ERR_APP_REGISTER_FAILED', reason],
    )
    assert.equal((await remove(nodes[0] as HttpNode, 'partial')).status, 200)
    await everywhere('partial gone', '/partial', undefined, runs)
  })

  it("refuses a redeploy that changes the session manager's settings; the running version serves on, with its sessions", async () => {
    const [n1, n2, n3] = nodes as [HttpNode, HttpNode, HttpNode]
    const v1 = await archive(root, 't1', { cattery: { manager: { maxActiveSessions: 100 } } })
    assert.equal((await upload(n1, 'tuned', v1)).status, 201)
    await everywhere('tuned t1', '/tuned', 't1')
    await until('every member to run tuned t1', async () =>
      (await Promise.all(nodes.map(statusOf))).every(
        (s) => farmApp(s, 'tuned')?.members.length === nodes.length,
      ),
    )
    const first = await getJson(`http://127.0.0.1:${n2.http}/tuned/inc`)
    const cookie = cookieOf(first.setCookie)
    const v2 = await archive(root, 't2', { cattery: { manager: { maxActiveSessions: 200 } } })
    const refused = await upload(n1, 'tuned', v2)
    const answer = (await refused.json()) as { code: string; message: string }
    assert.equal(refused.status, 422)
    assert.equal(answer.code, 'CATTERY_ERR_APP_SETTINGS_CHANGED')
    assert.match(answer.message, /^application tuned: .*maxActiveSessions: 100 → 200/)
    // Nothing went anywhere: every member runs t1 still, and lists n1's refusal with its reason.
    await until("every member to list n1's refusal of t2", async () =>
      (await Promise.all(nodes.map(statusOf))).every(
        (s) =>
          farmApp(s, 'tuned')?.digest === sha256(v1) &&
          farmApp(s, 'tuned')?.members.length === nodes.length &&
          s.farm.refused.some(
            (r: { member: string; name: string; digest: string; code: string; reason: string }) =>
              r.member === 'n1' &&
              r.name === 'tuned' &&
              r.digest === sha256(v2) &&
              r.code === answer.code &&
              r.reason === answer.message,
          ),
      ),
    )
    for (const n of nodes) assert.equal(await version(n, '/tuned'), 't1', n.name)
    const again = await until('the session on n3', async () => {
      const r = await getJson(`http://127.0.0.1:${n3.http}/tuned/inc`, cookie)
      return r.body.count === 2 && r
    })
    assert.equal(again.body.version, 't1')
    const logged = n1.process.lines.find((l) => l.event === 'farm-deploy-failed' && l.app === 'tuned')
    assert.deepEqual([logged?.code, logged?.reason], [answer.code, answer.message])
    assert.equal((await remove(n1, 'tuned')).status, 200)
    await everywhere('tuned gone', '/tuned', undefined)
  })

  it('gives a member that was stopped and comes back the applications deployed meanwhile, before it reports ready', async () => {
    const [n1, n2] = nodes as [HttpNode, HttpNode]
    const others = nodes.filter((n) => n !== n2)
    await n2.process.stop('SIGTERM')
    await until('the others to see n2 leave', async () =>
      (await Promise.all(others.map(statusOf))).every(
        (s) => !s.members.some((m: { name: string }) => m.name === 'n2'),
      ),
    )
    const body = await archive(root, 'l1')
    assert.equal((await upload(n1, 'late', body)).status, 201)
    await everywhere('late l1', '/late', 'l1', others)
    const back = await start(1)
    nodes[1] = back
    await until(
      'n2 ready again',
      async () =>
        (await getJson(`http://127.0.0.1:${back.admin}/readyz`).catch(() => undefined))?.status === 200,
      30_000,
    )
    // The moment it is ready, it serves what was deployed while it was away.
    assert.equal(await version(back, '/late'), 'l1')
    const log = back.process.lines
    const deployedAt = log.findIndex((l) => l.event === 'farm-deployed' && l.app === 'late')
    const startedAt = log.findIndex((l) => l.event === 'started')
    assert.ok(deployedAt >= 0 && deployedAt < startedAt, 'deployed before the node started serving')
    assert.equal((await remove(n1, 'late')).status, 200)
    await everywhere('late gone', '/late', undefined)
  })

  it('refuses corrupt and hostile archives everywhere with a clear error, writing nothing outside deployDir', async () => {
    const n1 = nodes[0] as HttpNode
    const good = await archive(root, 'ok')
    const outside = filesUnder(root).filter((f) => !/^n\d\/(deploy|temp)(\/|$)/.test(f))
    const hostile: Array<[string, Buffer, string, Record<string, string>?]> = [
      ['baddigest', good, 'CATTERY_ERR_FARM_DIGEST_MISMATCH', { 'x-cattery-sha256': 'ab'.repeat(32) }],
      ['truncated', good.subarray(0, Math.floor(good.length / 2)), 'CATTERY_ERR_ARCHIVE_CORRUPT'],
      [
        'traversal',
        rawTgz([
          { path: 'package.json', body: '{}' },
          { path: '../../etc/x', body: 'owned' },
        ]),
        'CATTERY_ERR_ARCHIVE_UNSAFE',
      ],
      [
        'symlink',
        rawTgz([
          { path: 'package.json', body: '{}' },
          { path: 'escape', type: '2', linkpath: '../../../../etc' },
        ]),
        'CATTERY_ERR_ARCHIVE_UNSAFE',
      ],
      // 64 MiB of zeros in 64 KiB of gzip, against apps.maxUnpackedBytes of 4 MiB.
      ['bomb', gzipSync(Buffer.alloc(64 * 1024 * 1024)), 'CATTERY_ERR_ARCHIVE_TOO_LARGE'],
    ]
    /** What PUT answered, by name: every member reports the same code and reason. */
    const answers = new Map<string, string>()
    for (const [name, body, code, headers] of hostile) {
      const r = await fetch(`http://127.0.0.1:${n1.admin}/apps/${name}`, {
        method: 'PUT',
        body,
        headers: { ...auth, ...headers },
      })
      const answer = (await r.json()) as { code: string; message: string }
      assert.equal(answer.code, code, `${name}: ${answer.message}`)
      // Over a bound (here the unpacked size): 413; otherwise 422.
      assert.equal(r.status, code === 'CATTERY_ERR_ARCHIVE_TOO_LARGE' ? 413 : 422, name)
      assert.match(answer.message, new RegExp(name))
      answers.set(name, answer.message)
    }
    assert.match(
      answers.get('baddigest') ?? '',
      /^archive baddigest: its SHA-256 is [0-9a-f]{64}, not (ab){32}/,
    )
    // The same through a watch directory (n3's): refused by n3, reported everywhere.
    drop(dirs(2).watch, 'dropped.tgz', hostile[2]?.[1] as Buffer)
    const droppedReason = /^archive dropped: entry "\.\.\/\.\.\/etc\/x" climbs out/
    await until('every member to report every refusal, with its reason', async () =>
      (await Promise.all(nodes.map(statusOf))).every((s) => {
        type Refused = { member: string; name: string; code: string; reason: string }
        const got = new Map<string, Refused>(
          s.farm.refused.map((r: Refused) => [`${r.member} ${r.name} ${r.code}`, r]),
        )
        return (
          hostile.every(([name, , code]) => got.get(`n1 ${name} ${code}`)?.reason === answers.get(name)) &&
          droppedReason.test(got.get('n3 dropped CATTERY_ERR_ARCHIVE_UNSAFE')?.reason ?? '')
        )
      }),
    )
    const badDigest = n1.process.lines.find((l) => l.event === 'farm-deploy-failed' && l.app === 'baddigest')
    assert.deepEqual(
      [badDigest?.code, badDigest?.reason],
      ['CATTERY_ERR_FARM_DIGEST_MISMATCH', answers.get('baddigest')],
      'the bad digest is logged',
    )
    for (const n of nodes)
      for (const name of ['truncated', 'traversal', 'symlink', 'bomb', 'dropped']) {
        const r = await getJson(`http://127.0.0.1:${n.http}/${name}/version`)
        assert.equal(r.status, 404, `${name} on ${n.name}`)
      }
    assert.ok(
      nodes[2]?.process.lines.some((l) => l.event === 'farm-deploy-failed' && l.app === 'dropped'),
      'the refusal is logged',
    )
    // Nothing was written outside the deploy and temp directories, and nothing of them stayed there.
    assert.deepEqual(
      filesUnder(root).filter((f) => !/^n\d\/(deploy|temp)(\/|$)/.test(f)),
      [...outside, 'n3/watch/dropped.tgz'].sort(),
    )
    for (let i = 0; i < nodes.length; i++) {
      assert.deepEqual(readdirSync(dirs(i).temp), [], `temp of n${i + 1}`)
      assert.deepEqual(readdirSync(dirs(i).deploy), [], `deploy of n${i + 1}`)
    }
  })
})
