/**
 * The many-sessions load generator (bench/peers/load/, a Go program): built into
 * ~/.cache/cattery/bench/ (bench/lib/build-cache.ts) when its build for the current source is
 * missing, then run once per job, the job as JSON on its stdin and the result on its stdout. It is written in
 * Go with hand-written HTTP/1.1 because Node's http client saturated near 16-17k requests/s on this
 * machine, below the systems it was measuring.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import path from 'node:path'
import { cachedBuild } from '../lib/build-cache.ts'

const SOURCE = path.join(import.meta.dirname, 'load')

/** A session's cookies, in the order a browser sends them. */
export type Jar = Array<{ name: string; value: string }>

/** The modes are described in bench/peers/load/main.go. */
export interface LoadJob {
  mode: 'load' | 'fill' | 'check'
  nodes: string[]
  jars: Jar[]
  concurrency: number
  durationMs?: number
  writeRatio?: number
  paths?: string[]
}

export interface LoadResult {
  requests: number
  ms: number
  errors: number
  /** Per session, the increments acknowledged (200 to /demo/inc). */
  acks: number[]
  jars: Jar[]
  /** check: per session, its counter on every node. */
  values?: number[][]
  /** The CPU time the generator used (user + system). */
  cpuMs: number
}

function goCommand(): string {
  for (const go of ['go', '/usr/local/go/bin/go']) if (!spawnSync(go, ['version']).error) return go
  throw new Error(
    'Go (1.19 or later) is needed to build the load generator bench/peers/load/: apt-get install -y golang-go, or a release from https://go.dev/dl/ unpacked in /usr/local/go',
  )
}

let binary: string | undefined

/** The generator's executable, built when the cache has none for the current source. */
export function ensureLoadGenerator(): string {
  binary ??= cachedBuild(
    'load',
    readdirSync(SOURCE).map((f) => path.join(SOURCE, f)),
    (out) => {
      execFileSync(goCommand(), ['build', '-trimpath', '-o', out, '.'], { cwd: SOURCE, stdio: 'inherit' })
    },
  )
  return binary
}

export function runLoad(job: LoadJob): Promise<LoadResult> {
  const child = spawn(ensureLoadGenerator(), [], { stdio: ['pipe', 'pipe', 'inherit'] })
  const chunks: Buffer[] = []
  child.stdout.on('data', (d: Buffer) => chunks.push(d))
  child.stdin.end(JSON.stringify(job))
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code) => {
      if (code === 0) resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as LoadResult)
      else reject(new Error(`the load generator exited (${code})`))
    })
  })
}
