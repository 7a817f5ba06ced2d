/**
 * Runs every benchmark in turn, each printing a markdown table for bench/RESULTS.md: `make bench`
 * passes --quick (shorter rounds, fewer sessions: ~11 minutes on the 2-core machine), `make
 * bench-full` nothing (the full lengths the goals in RESULTS.md are measured with: ~30 minutes).
 */
import { spawnSync } from 'node:child_process'
import path from 'node:path'

const benches = [
  'channel.ts',
  'transport-crypto.ts',
  'sessions.ts',
  'backup-manager.ts',
  'backup-repair.ts',
  'read-your-writes.ts',
  'replication-filter.ts',
  'app-context.ts',
  'farm.ts',
  'peers.ts',
  'images.ts',
  'kube.ts',
]
const extra = process.argv.slice(2)
for (const b of benches) {
  const r = spawnSync(process.execPath, [path.join(import.meta.dirname, b), ...extra], { stdio: 'inherit' })
  if (r.status !== 0) process.exit(r.status ?? 1)
}
