/**
 * The functions with the most self time in a V8 CPU profile (`node --cpu-prof`, or
 * `node bench/sessions.ts --cpu-prof <dir>`), with their share of the samples, and the same summed
 * per file, so the cost of our own code stands apart from Node's and the libraries'. Shares are of
 * the samples when the process was busy.
 *   node bench/profile-summary.ts <file.cpuprofile> [top=40]
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}

const [file, topArg] = process.argv.slice(2)
if (!file) {
  console.error('usage: node bench/profile-summary.ts <file.cpuprofile> [top]')
  process.exit(2)
}
const top = Number(topArg ?? 40)
const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[] }
const hits = new Map<number, number>()
for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1)
// Shares are of the busy samples: a benchmark's node is idle between its rounds.
const idle = new Set(profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id))
const total = profile.samples.filter((id) => !idle.has(id)).length
const root = path.resolve(import.meta.dirname, '..')
const where = (url: string) => url.replace(`file://${root}/`, '').replace(/^.*node_modules\//, 'npm:')

const parent = new Map<number, ProfileNode>()
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n)
const fileOf = (n: ProfileNode) => where(n.callFrame.url) || '(native)'
const keyOf = (n: ProfileNode) =>
  `${n.callFrame.functionName || '(anonymous)'} ${fileOf(n)}:${n.callFrame.lineNumber + 1}`
const byFunction = new Map<string, number>()
const byFile = new Map<string, number>()
/** Time in a function of ours and what it calls (once per sample, however deep the recursion). */
const ours = new Map<string, number>()
for (const n of profile.nodes) {
  const h = hits.get(n.id) ?? 0
  if (!h || idle.has(n.id)) continue
  byFunction.set(keyOf(n), (byFunction.get(keyOf(n)) ?? 0) + h)
  byFile.set(fileOf(n), (byFile.get(fileOf(n)) ?? 0) + h)
  const seen = new Set<string>()
  for (let p: ProfileNode | undefined = n; p; p = parent.get(p.id)) {
    if (!p.callFrame.url.startsWith(`file://${root}/node/`) || seen.has(keyOf(p))) continue
    seen.add(keyOf(p))
    ours.set(keyOf(p), (ours.get(keyOf(p)) ?? 0) + h)
  }
}
const print = (title: string, m: Map<string, number>) => {
  console.log(`\n${title} (${total} busy samples)`)
  for (const [k, h] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`${((100 * h) / total).toFixed(1).padStart(5)}%  ${k}`)
}
print('self time by function', byFunction)
print('self time by file', byFile)
print('total time (self and callees) of functions in node/', ours)
