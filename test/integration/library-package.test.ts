/**
 * Library mode as a user gets it: the package is built, linked into a fresh project's node_modules,
 * and imported by its name (package.json exports) — by a fastify app, by an Express app using the
 * express-session store, and by TypeScript code type-checked against the published declarations.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { getJson, until } from '../helpers/http-nodes.ts'
import { freePorts, NodeProcess } from '../helpers/node-process.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')
const FIXTURES = path.join(ROOT, 'test/fixtures/library')
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc')

/** A project whose node_modules links cattery (this repository) and what the fixtures import. */
function project(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cattery-consumer-'))
  mkdirSync(path.join(dir, 'node_modules'), { recursive: true })
  symlinkSync(ROOT, path.join(dir, 'node_modules/cattery'))
  for (const dep of ['fastify', 'express', 'express-session', 'pino', '@types']) {
    symlinkSync(path.join(ROOT, 'node_modules', dep), path.join(dir, 'node_modules', dep))
  }
  writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({ name: 'consumer', type: 'module', private: true }),
  )
  for (const f of ['express-app.mjs', 'fastify-app.mjs', 'consumer.ts'])
    copyFileSync(path.join(FIXTURES, f), path.join(dir, f))
  return dir
}

type Proc = { proc: NodeProcess; http: number }

/** Two processes of `script` that list each other as members. */
async function pair(dir: string, script: string): Promise<Proc[]> {
  const receivers = await freePorts(2)
  const https = await freePorts(2)
  const members = receivers.map((p) => `127.0.0.1:${p}`).join(',')
  const out = [0, 1].map((i) => ({
    proc: new NodeProcess(`p${i + 1}`, [`p${i + 1}`, String(receivers[i]), members, String(https[i])], {
      command: [process.execPath, path.join(dir, script)],
      passName: false,
    }),
    http: https[i] as number,
  }))
  await Promise.all(out.map((p) => p.proc.waitFor((l) => l.event === 'started', 20_000)))
  return out
}

describe("library mode through the package's exports", () => {
  let dir = ''
  const procs: NodeProcess[] = []
  before(() => {
    const build = spawnSync(process.execPath, [TSC, '-p', 'tsconfig.build.json'], {
      cwd: ROOT,
      encoding: 'utf8',
    })
    assert.equal(build.status, 0, `npm run build failed: ${build.stdout}${build.stderr}`)
    dir = project()
  })
  after(() => Promise.all(procs.map((p) => p.stop('SIGKILL'))))

  it('type-checks a fastify app and an application plugin against the published declarations', () => {
    writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'es2024',
          module: 'nodenext',
          moduleResolution: 'nodenext',
          strict: true,
          noEmit: true,
          types: ['node'],
        },
        files: ['consumer.ts'],
      }),
    )
    const r = spawnSync(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: dir, encoding: 'utf8' })
    assert.equal(r.status, 0, r.stdout + r.stderr)
  })

  it('gives an existing fastify app replicated sessions with the session plugin', async () => {
    const [a, b] = (await pair(dir, 'fastify-app.mjs')) as [Proc, Proc]
    procs.push(a.proc, b.proc)
    const added = await getJson(`http://127.0.0.1:${a.http}/shop/cart/add?item=book`)
    assert.deepEqual(added.body, { node: 'p1', cart: ['book'] })
    const cookie = String(added.setCookie).split(';')[0] as string
    const read = await until('the cart on the second process', async () => {
      const r = await getJson(`http://127.0.0.1:${b.http}/shop/cart`, cookie)
      return r.body.cart?.length === 1 && r.body
    })
    assert.deepEqual(read, { node: 'p2', cart: ['book'] })
    // The manager options given (session.maxAttributeSize 4096) hold.
    const big = await getJson(`http://127.0.0.1:${b.http}/shop/big`, cookie)
    assert.equal(big.status, 413)
    assert.equal(big.body.code, 'CATTERY_ERR_SESSION_ATTRIBUTE_TOO_LARGE')
  })

  it('replicates an express-session session between two Express processes through the store', async () => {
    const [a, b] = (await pair(dir, 'express-app.mjs')) as [Proc, Proc]
    procs.push(a.proc, b.proc)
    const login = await getJson(`http://127.0.0.1:${a.http}/login?user=alice`)
    assert.equal(login.status, 200)
    const cookie = String(login.setCookie).split(';')[0] as string
    assert.match(cookie, /^connect\.sid=s%3A/)
    // Synchronous replication: the other process has it as soon as the response came.
    const onB = await getJson(`http://127.0.0.1:${b.http}/visit`, cookie)
    assert.deepEqual(onB.body, { node: 'p2', user: 'alice', visits: 1 })
    const onA = await getJson(`http://127.0.0.1:${a.http}/visit`, cookie)
    assert.deepEqual(onA.body, { node: 'p1', user: 'alice', visits: 2 })
    assert.deepEqual((await getJson(`http://127.0.0.1:${b.http}/sessions`)).body, {
      node: 'p2',
      sessions: 1,
    })
    // Destroyed on one process, gone on the other.
    const out = await getJson(`http://127.0.0.1:${b.http}/logout`, cookie)
    assert.deepEqual(out.body, { node: 'p2', loggedOut: true })
    const after = await until('the session gone on the first process', async () => {
      const r = await getJson(`http://127.0.0.1:${a.http}/visit`, cookie)
      return r.body.user === null && r.body
    })
    assert.deepEqual(after, { node: 'p1', user: null, visits: 1 })
  })
})
