/**
 * The many-sessions load generator of bench/peers.ts, a process of its own (forked, driven over IPC):
 * `concurrency` virtual users, each owning a disjoint slice of the sessions and sending their
 * requests one at a time — as a browser does — to the next node in turn (a round-robin balancer
 * without affinity). A request is a write (`/demo/inc`) with probability `writeRatio`, else a read
 * (`/demo/get?k=count`). Each session keeps its cookie jar (every Set-Cookie is followed, an expired
 * one removed), so session-id rebinding (JvmRouteBinderValve) and Cattery's version cookie work as
 * in a browser. Reports requests/s and, per session, the increments acknowledged (status 200).
 */
import http from 'node:http'

export interface LoadJob {
  nodes: string[]
  /** Per session, its cookies as name → value. */
  jars: Array<Record<string, string>>
  concurrency: number
  durationMs: number
  writeRatio: number
}

export interface LoadResult {
  requests: number
  ms: number
  errors: number
  acks: number[]
  jars: Array<Record<string, string>>
}

const agents = new Map<string, http.Agent>()
const agentFor = (base: string) => {
  let a = agents.get(base)
  if (!a) {
    a = new http.Agent({ keepAlive: true, maxSockets: 256 })
    agents.set(base, a)
  }
  return a
}

export function request(
  base: string,
  path: string,
  jar: Record<string, string>,
): Promise<{ status: number; body: string }> {
  const cookie = Object.entries(jar)
    .map(([k, v]) => `${k}=${v}`)
    .join('; ')
  return new Promise((resolve, reject) => {
    const req = http.get(
      `${base}${path}`,
      { agent: agentFor(base), headers: cookie ? { cookie } : {} },
      (res) => {
        for (const c of res.headers['set-cookie'] ?? []) {
          const [pair = '', ...attrs] = c.split(';')
          const eq = pair.indexOf('=')
          const name = pair.slice(0, eq).trim()
          const expired = attrs.some((a) => /expires=.*1970/i.test(a) || /max-age=0\b/i.test(a.trim()))
          if (expired) delete jar[name]
          else jar[name] = pair.slice(eq + 1).trim()
        }
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => {
          body += d
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
        res.on('error', reject)
      },
    )
    req.on('error', reject)
  })
}

export async function runLoad(job: LoadJob): Promise<LoadResult> {
  const acks = new Array<number>(job.jars.length).fill(0)
  let requests = 0
  let errors = 0
  const started = performance.now()
  const deadline = started + job.durationMs
  const user = async (v: number) => {
    const mine: number[] = []
    for (let i = v; i < job.jars.length; i += job.concurrency) mine.push(i)
    let turn = v
    for (let k = 0; performance.now() < deadline; k++) {
      const s = mine[k % mine.length] as number
      const base = job.nodes[turn++ % job.nodes.length] as string
      const write = Math.random() < job.writeRatio
      try {
        const r = await request(
          base,
          write ? '/demo/inc' : '/demo/get?k=count',
          job.jars[s] as Record<string, string>,
        )
        requests++
        if (r.status !== 200) errors++
        else if (write) acks[s] = (acks[s] ?? 0) + 1
      } catch {
        errors++
      }
    }
  }
  await Promise.all(Array.from({ length: job.concurrency }, (_, v) => user(v)))
  return { requests, ms: performance.now() - started, errors, acks, jars: job.jars }
}

if (process.send) {
  process.on('message', async (job: LoadJob) => {
    const result = await runLoad(job)
    process.send?.(result, () => process.exit(0))
  })
}
