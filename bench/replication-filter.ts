/**
 * The ReplicationValve filter's cost per request, side by side in one process: the default pattern
 * as it was applied before 2026-11-28 (an unanchored search over the whole URL, query string
 * included) and as it is now (node/server/replication-filter.ts: anchored, over the path only), for
 * URLs with query strings of 0 B, 1 KB and 16 KB (a form's values). Interleaved rounds, medians.
 *   node bench/replication-filter.ts [--quick]
 */
import { filterPathOf, replicationFilterOf } from '../node/server/replication-filter.ts'
import { DEFAULT_REPLICATION_FILTER } from '../node/server/session-plugin.ts'
import { median } from './lib/wrk.ts'

const quick = process.argv.includes('--quick')
const ROUNDS = quick ? 5 : 11
const before = new RegExp(DEFAULT_REPLICATION_FILTER)
const now = replicationFilterOf(DEFAULT_REPLICATION_FILTER) as RegExp
const ways = {
  before: (url: string) => before.test(url),
  now: (url: string) => now.test(filterPathOf(url)),
}

/** Nanoseconds per call of `f` on `url`, over about 50 ms (at least one call). */
function time(f: (url: string) => boolean, url: string): number {
  let calls = 0
  let hits = 0
  // Calls between two clock readings: doubled while a batch takes under 1 ms.
  let batch = 1
  const start = process.hrtime.bigint()
  const end = start + 50_000_000n
  let t = start
  while (t < end) {
    for (let i = 0; i < batch; i++) if (f(url)) hits++
    calls += batch
    const last = t
    t = process.hrtime.bigint()
    if (t - last < 1_000_000n && batch < 4096) batch *= 2
  }
  if (hits > calls) throw new Error('unreachable')
  return Number(t - start) / calls
}

const out = (s = '') => process.stdout.write(`${s}\n`)
out(
  `# ReplicationValve filter, ns per request (median of ${ROUNDS} interleaved rounds), ${new Date().toISOString()}`,
)
out()
out('| URL | before: search over the URL | now: whole-path match | before / now |')
out('| --- | --- | --- | --- |')
for (const q of [0, 1024, 16 * 1024]) {
  const url = q === 0 ? '/demo/set' : `/demo/set?k=v&v=${'x'.repeat(q - 8)}`
  const samples = { before: [] as number[], now: [] as number[] }
  for (let r = 0; r < ROUNDS; r++)
    for (const w of r % 2 ? (['now', 'before'] as const) : (['before', 'now'] as const))
      samples[w].push(time(ways[w], url))
  const b = median(samples.before)
  const n = median(samples.now)
  out(
    `| \`/demo/set\` + ${q === 0 ? 'no' : `${q / 1024} KB`} query | ${b.toFixed(0)} | ${n.toFixed(0)} | ${(b / n).toFixed(1)}× |`,
  )
}
out()
out(`Command: \`node bench/replication-filter.ts${quick ? ' --quick' : ''}\`.`)
