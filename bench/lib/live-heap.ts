/**
 * The bytes of a node's live JS objects, from a V8 heap snapshot (the node runs with
 * `--heapsnapshot-signal=SIGUSR2`; the snapshot collects garbage first). Exact where `heapUsed` after
 * a GC is not: on the same objects that reading moves by megabytes from run to run (bench/RESULTS.md,
 * BackupManager). Slow: ~20 s and a few hundred MB of the benchmark's memory for a node holding
 * 40,000 sessions.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import path from 'node:path'

export const SNAPSHOT_SIGNAL_OPTION = '--heapsnapshot-signal=SIGUSR2'

/**
 * Signals `pid` to write a snapshot into `dir` (its working directory), waits until it answers
 * `alive` again (it writes the snapshot on its main thread), sums the self size of every object that
 * is not native memory outside the JS heap, and deletes the file.
 */
export async function liveHeapBytes(
  pid: number,
  dir: string,
  alive: () => Promise<unknown>,
): Promise<number> {
  const mine = (f: string) => f.endsWith('.heapsnapshot') && f.includes(`.${pid}.`)
  for (const f of readdirSync(dir).filter(mine)) rmSync(path.join(dir, f))
  process.kill(pid, 'SIGUSR2')
  const deadline = Date.now() + 180_000
  for (;;) {
    await alive()
    const file = readdirSync(dir).find(mine)
    if (file) {
      try {
        const bytes = sumOf(JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Snapshot)
        rmSync(path.join(dir, file))
        return bytes
      } catch {
        // Still being written.
      }
    }
    if (Date.now() > deadline) throw new Error(`no heap snapshot from process ${pid} within 180 s`)
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
}

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } }
  nodes: number[]
}

function sumOf(s: Snapshot): number {
  const fields = s.snapshot.meta.node_fields
  const width = fields.length
  const type = fields.indexOf('type')
  const size = fields.indexOf('self_size')
  const native = s.snapshot.meta.node_types[0].indexOf('native')
  let total = 0
  for (let i = 0; i < s.nodes.length; i += width)
    if (s.nodes[i + type] !== native) total += s.nodes[i + size] as number
  return total
}
