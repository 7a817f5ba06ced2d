/**
 * A non-sticky client load: `sessions` clients, each sending `requests` sequential `GET /demo/inc`,
 * request i to node i mod n (of the nodes alive then), following every cookie it is given (the
 * session cookie and the version cookie), as browsers behind a round-robin balancer would. Each
 * client remembers every count acknowledged to it, by whom, and the requests that got no answer.
 */
import type { HttpNode } from './http-nodes.ts'

export interface RoundRobinClient {
  /** Cookies as the client holds them (name → value). */
  jar: Map<string, string>
  sessionId: string | undefined
  /**
   * Counts acknowledged, in order, with the node that answered, when, and how many requests got no
   * answer since the previous one (each may or may not have been applied).
   */
  acks: Array<{ count: number; node: string; at: number; unanswered: number }>
  /** Requests that got no answer (connection refused or reset: the node was killed). */
  unanswered: number
}

export interface RoundRobinResult {
  clients: RoundRobinClient[]
  acknowledged: number
  failed: number
  ms: number
}

const cookieHeader = (jar: Map<string, string>) => [...jar].map(([k, v]) => `${k}=${v}`).join('; ')

/** One request: its count and node, and every cookie set (undefined when there was no answer). */
async function inc(
  node: HttpNode,
  jar: Map<string, string>,
): Promise<{ count: number; node: string; id: string } | undefined> {
  let res: Response
  try {
    res = await fetch(`http://127.0.0.1:${node.http}/demo/inc`, {
      headers: jar.size ? { cookie: cookieHeader(jar) } : {},
      signal: AbortSignal.timeout(10_000),
    })
  } catch {
    return undefined
  }
  if (res.status !== 200) throw new Error(`HTTP ${res.status} from ${node.name}: ${await res.text()}`)
  for (const c of res.headers.getSetCookie()) {
    const m = /^([^=]+)=([^;]*)/.exec(c)
    if (m) jar.set(m[1] as string, m[2] as string)
  }
  const body = (await res.json()) as { count: number; node: string; sessionId: string }
  return { count: body.count, node: body.node, id: body.sessionId }
}

/**
 * Runs the load; `alive()` gives the nodes to spread over now (a killed node leaves it), `progress`
 * is told each time a request is acknowledged (the total so far). A client whose request got no
 * answer retries on the next node.
 */
export async function roundRobinLoad(o: {
  alive: () => HttpNode[]
  sessions: number
  requests: number
  progress?: (acknowledged: number) => void
  /** Cookies the clients start with (e.g. to make them all share one session). */
  jar?: () => Map<string, string>
}): Promise<RoundRobinResult> {
  const started = Date.now()
  const result: RoundRobinResult = { clients: [], acknowledged: 0, failed: 0, ms: 0 }
  const run = async (c: RoundRobinClient) => {
    let i = 0
    let unanswered = 0
    while (c.acks.length < o.requests) {
      const nodes = o.alive()
      const node = nodes[i++ % nodes.length] as HttpNode
      const r = await inc(node, c.jar)
      if (!r) {
        c.unanswered++
        unanswered++
        result.failed++
        if (result.failed > 10 * o.sessions) throw new Error('too many requests without an answer')
        continue
      }
      c.sessionId = r.id
      c.acks.push({ count: r.count, node: r.node, at: Date.now(), unanswered })
      unanswered = 0
      result.acknowledged++
      o.progress?.(result.acknowledged)
    }
  }
  result.clients = Array.from({ length: o.sessions }, () => ({
    jar: o.jar?.() ?? new Map(),
    sessionId: undefined,
    acks: [],
    unanswered: 0,
  }))
  await Promise.all(result.clients.map(run))
  result.ms = Date.now() - started
  return result
}

/** Acknowledged increments the session's final count does not hold (its last count is its final one). */
export function lostIncrements(c: RoundRobinClient, finalCount: number): number {
  return c.acks.length - finalCount
}

/** Answers that did not exceed the count acknowledged before them (a read of an older copy). */
export function staleAnswers(
  c: RoundRobinClient,
): Array<{ i: number; count: number; before: number; node: string; ackedBy: string }> {
  const out = []
  for (let i = 1; i < c.acks.length; i++) {
    const a = c.acks[i] as RoundRobinClient['acks'][number]
    const before = c.acks[i - 1] as RoundRobinClient['acks'][number]
    if (a.count <= before.count)
      out.push({ i, count: a.count, before: before.count, node: a.node, ackedBy: before.node })
  }
  return out
}
