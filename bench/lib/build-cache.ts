/**
 * Build outputs the benchmarks compile from their own sources (the Go load generator, the Tomcat
 * peer's servlet), kept in ~/.cache/cattery/bench/ (or $CATTERY_BENCH_CACHE) under a name carrying
 * the hash of the sources, so that a run rebuilds only what changed. Only the newest build of each
 * kind is kept.
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'

const CACHE = process.env.CATTERY_BENCH_CACHE ?? path.join(os.homedir(), '.cache/cattery/bench')

/**
 * The path of `kind`'s build for the current `sources` (files), made by `build(out)` when missing:
 * `build` writes a file or a directory at `out`.
 */
export function cachedBuild(kind: string, sources: string[], build: (out: string) => void): string {
  const hash = createHash('sha256')
  for (const f of [...sources].sort()) hash.update(path.basename(f)).update(readFileSync(f))
  const name = `${kind}-${hash.digest('hex').slice(0, 16)}`
  const out = path.join(CACHE, name)
  if (existsSync(out)) return out
  mkdirSync(CACHE, { recursive: true })
  console.error(`# building ${kind} into ${out}`)
  const tmp = `${out}.${process.pid}.tmp`
  build(tmp)
  try {
    renameSync(tmp, out)
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true })
    if (!existsSync(out)) throw err // else another run built it meanwhile
  }
  for (const f of readdirSync(CACHE))
    if (f.startsWith(`${kind}-`) && f !== name && !f.endsWith('.tmp'))
      rmSync(path.join(CACHE, f), { recursive: true, force: true })
  return out
}
