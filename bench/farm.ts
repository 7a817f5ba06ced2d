/**
 * Farm deployment (issue 14): a 5 MB application PUT to one member of 3 (PUT /apps/<name>), timed
 * until it serves on all three (each polled every 5 ms). Reference, in the same run and interleaved:
 * copying the same archive into three directories and unpacking it in each with the node's own
 * unpacker (node/deploy/archive.ts) — the local work of three deploys, without the network and
 * without registering contexts. Rounds alternate; medians (min-max) are printed as a markdown table
 * for bench/RESULTS.md. `--rounds N` (default 7).
 *
 *   node bench/farm.ts
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { c as tar } from 'tar'
import { unpackArchive } from '../node/deploy/archive.ts'

const MAIN = path.resolve(import.meta.dirname, '../node/main.ts')
const TOKEN = 'bench-farm-token'
const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || 7

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo
      s.close(() => resolve(port))
    })
  })
}

interface Node {
  child: ChildProcess
  http: number
  admin: number
}

async function startNode(name: string, receiver: number, members: number[], root: string): Promise<Node> {
  const [http, admin] = [await freePort(), await freePort()]
  const child = spawn(
    process.execPath,
    [
      MAIN,
      ...['--name', name, '--receiver-host', '127.0.0.1', '--receiver-port', String(receiver)],
      ...['--membership', 'static', '--members', members.map((p) => `127.0.0.1:${p}`).join(',')],
      ...['--http-host', '127.0.0.1', '--http-port', String(http)],
      ...['--admin-host', '127.0.0.1', '--admin-port', String(admin), '--admin-token', TOKEN],
      ...[
        '--farm-deploy-dir',
        path.join(root, name, 'deploy'),
        '--farm-temp-dir',
        path.join(root, name, 'temp'),
      ],
      ...['--log-level', 'warn'],
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  )
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${admin}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    )
    if (ok) return { child, http, admin }
    if (child.exitCode !== null) throw new Error(`${name} exited`)
    await sleep(50)
  }
}

/** A 5 MB application (an incompressible asset beside its entry), packed as npm pack does. */
async function application(dir: string, label: string): Promise<Buffer> {
  const src = path.join(dir, `src-${label}`)
  await mkdir(src, { recursive: true })
  await writeFile(path.join(src, 'package.json'), JSON.stringify({ type: 'module', version: '1.0.0' }))
  await writeFile(
    path.join(src, 'index.js'),
    `export default async function (app) { app.get('/ping', async () => ({ app: ${JSON.stringify(label)} })) }\n`,
  )
  await writeFile(path.join(src, 'asset.bin'), randomBytes(5 * 1024 * 1024))
  const file = path.join(dir, `${label}.tgz`)
  await tar({ gzip: true, file, cwd: src, prefix: 'package', portable: true }, ['.'])
  return readFile(file)
}

async function servesEverywhere(nodes: Node[], name: string): Promise<void> {
  const pending = new Set(nodes)
  while (pending.size) {
    for (const n of [...pending]) {
      const r = await fetch(`http://127.0.0.1:${n.http}/${name}/ping`).catch(() => undefined)
      if (r?.status === 200) pending.delete(n)
      await r?.arrayBuffer()
    }
    if (pending.size) await sleep(5)
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
const fmt = (xs: number[]) =>
  `${median(xs).toFixed(0)} (${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)})`

const root = await mkdtemp(path.join(os.tmpdir(), 'cattery-bench-farm-'))
const receivers = [await freePort(), await freePort(), await freePort()]
const nodes = await Promise.all(receivers.map((p, i) => startNode(`n${i + 1}`, p, receivers, root)))
await sleep(500)
const farm: number[] = []
const reference: number[] = []
let size = 0
try {
  for (let round = 0; round <= rounds; round++) {
    const name = `big${round}`
    const archive = await application(root, name)
    size = archive.length
    // Round 0 warms up (first import of fastify paths, connections); it is not counted.
    const t0 = performance.now()
    const put = await fetch(`http://127.0.0.1:${nodes[0]?.admin}/apps/${name}`, {
      method: 'PUT',
      body: archive,
      headers: { authorization: `Bearer ${TOKEN}` },
    })
    if (put.status !== 201) throw new Error(`PUT ${name}: ${put.status} ${await put.text()}`)
    await servesEverywhere(nodes, name)
    const t = performance.now() - t0
    if (round > 0) farm.push(t)
    await fetch(`http://127.0.0.1:${nodes[0]?.admin}/apps/${name}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${TOKEN}` },
    })

    const r0 = performance.now()
    for (let i = 0; i < 3; i++) {
      const dir = path.join(root, `ref${i}`)
      await mkdir(dir, { recursive: true })
      const copy = path.join(dir, `${name}.tgz`)
      await copyFile(path.join(root, `${name}.tgz`), copy)
      await unpackArchive(
        copy,
        path.join(dir, name),
        { maxArchiveBytes: 64 << 20, maxUnpackedBytes: 256 << 20, maxEntries: 20_000 },
        name,
      )
    }
    if (round > 0) reference.push(performance.now() - r0)
    await rm(path.join(root, `src-${name}`), { recursive: true, force: true })
  }
} finally {
  for (const n of nodes) n.child.kill('SIGKILL')
}
process.stdout.write(
  `\n| ${(size / 1e6).toFixed(1)} MB application, ${rounds} rounds, ms, median (min-max) | time |\n| --- | --- |\n` +
    `| farm: PUT to n1 → serves on n1, n2, n3 | ${fmt(farm)} |\n` +
    `| reference: copy to 3 directories + unpack each (node/deploy/archive.ts), one process | ${fmt(reference)} |\n`,
)
await rm(root, { recursive: true, force: true })
process.exit(0)
