/** Node processes with their HTTP and admin ports, and a tiny cookie-keeping HTTP client. */
import { freePorts, loopbackNodeArgs, NodeProcess } from './node-process.ts'

export interface HttpNode {
  process: NodeProcess
  name: string
  http: number
  admin: number
  receiver: number
}

export interface ClusterPlan {
  /** Receiver ports of every node that may ever run (the static member list). */
  receivers: number[]
  extra: string[]
}

export async function planCluster(size: number, extra: string[] = []): Promise<ClusterPlan> {
  return { receivers: await freePorts(size), extra }
}

/** Starts node `i` of the plan (name n<i+1>) and waits until it is ready (HTTP port open). */
export async function startHttpNode(
  plan: ClusterPlan,
  i: number,
  more: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<HttpNode> {
  const [http, admin] = (await freePorts(2)) as [number, number]
  const name = `n${i + 1}`
  const proc = new NodeProcess(
    name,
    [
      ...loopbackNodeArgs({ receiver: plan.receivers[i] as number, members: plan.receivers, http, admin }),
      ...plan.extra,
      ...more,
    ],
    { env },
  )
  return {
    process: proc,
    name,
    http: http as number,
    admin: admin as number,
    receiver: plan.receivers[i] as number,
  }
}

export const started = (n: HttpNode, timeoutMs = 30_000) =>
  n.process.waitFor((l) => l.event === 'started', timeoutMs)

// biome-ignore lint/suspicious/noExplicitAny: tests read whatever JSON the node answers
type Json = any

export async function getJson(
  url: string,
  cookie?: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Json; setCookie: string | null }> {
  const res = await fetch(url, { headers: cookie ? { ...headers, cookie } : headers })
  const text = await res.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {}
  return { status: res.status, body, setCookie: res.headers.get('set-cookie') }
}

/** JSESSIONID=<value> from a Set-Cookie header. */
export function cookieOf(setCookie: string | null): string {
  const m = /JSESSIONID=([^;]+)/.exec(setCookie ?? '')
  if (!m) throw new Error(`no JSESSIONID in ${setCookie}`)
  return `JSESSIONID=${m[1]}`
}

export async function status(n: HttpNode): Promise<Json> {
  return (await getJson(`http://127.0.0.1:${n.admin}/status`)).body
}

export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)?.slice(0, 500)}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Waits until every node sees every other node (the cluster has formed). */
export async function formed(nodes: HttpNode[], timeoutMs = 10_000): Promise<void> {
  await until(
    'the cluster to form',
    async () => {
      const all = await Promise.all(nodes.map((n) => status(n)))
      return all.every((s) => s.members.length === nodes.length - 1)
    },
    timeoutMs,
  )
}

/** Creates `count` sessions through `/demo/set` on the node listening on `http` (32 requests at a time). */
export async function createSessions(n: { http: number }, count: number): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < count) {
      const i = next++
      const r = await getJson(`http://127.0.0.1:${n.http}/demo/set?k=i&v=${i}`)
      if (r.status !== 200) throw new Error(`creating session ${i}: HTTP ${r.status}`)
    }
  }
  await Promise.all(Array.from({ length: 32 }, worker))
}
