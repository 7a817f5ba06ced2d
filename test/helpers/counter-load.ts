/**
 * A bounded client load that checks every answer: `sessions` clients, each incrementing its own
 * session's counter (`/demo/inc`) in sequence, a new connection per request (so a Service without
 * affinity spreads them over its pods, as a non-sticky balancer would). Each client remembers the last
 * value acknowledged to it and how many of its requests failed without an answer since (those may or
 * may not have been applied). An answer below or at the last acknowledged value is a stale read; the
 * final value of a session below its last acknowledged one is a lost increment.
 */
import http from 'node:http'

export interface CounterClient {
  cookie: string | undefined
  sessionId: string | undefined
  acked: number
  /** The node that acknowledged it. */
  ackedBy: string
  /** Requests that got no answer since the last acknowledged one. */
  unanswered: number
}

export interface CounterLoadResult {
  clients: CounterClient[]
  requests: number
  acknowledged: number
  failed: number
  staleReads: Array<{
    session: string | undefined
    acked: number
    answered: number
    node: string
    at: number
    ackedBy: string
  }>
  /** Answers that skipped more values than unanswered requests explain. */
  jumps: Array<{ session: string | undefined; acked: number; answered: number; unanswered: number }>
}

/** One GET on a fresh connection: status, JSON body and Set-Cookie. */
export function getOnce(
  url: string,
  cookie?: string,
  timeoutMs = 5_000,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown>; setCookie: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      url,
      { agent: false, headers: cookie ? { ...headers, cookie } : headers, timeout: timeoutMs },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => {
          text += c
        })
        res.on('end', () => {
          let body: Record<string, unknown> = {}
          try {
            body = JSON.parse(text)
          } catch {
            body = { text }
          }
          const sc = res.headers['set-cookie']?.[0]
          resolve({ status: res.statusCode ?? 0, body, setCookie: sc })
        })
        res.on('error', reject)
      },
    )
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)))
    req.on('error', reject)
  })
}

const cookieValue = (setCookie: string | undefined) => /^(JSESSIONID=[^;]+)/.exec(setCookie ?? '')?.[1]

/** Runs until `stop()` is called; resolves with what every answer showed. */
export function counterLoad(baseUrl: () => string, sessions: number) {
  let stopped = false
  const result: CounterLoadResult = {
    clients: Array.from({ length: sessions }, () => ({
      cookie: undefined,
      sessionId: undefined,
      acked: 0,
      ackedBy: '',
      unanswered: 0,
    })),
    requests: 0,
    acknowledged: 0,
    failed: 0,
    staleReads: [],
    jumps: [],
  }
  const run = async (c: CounterClient) => {
    while (!stopped) {
      result.requests++
      try {
        const r = await getOnce(`${baseUrl()}/demo/inc`, c.cookie)
        if (r.status !== 200) throw new Error(`HTTP ${r.status}`)
        const count = Number(r.body.count)
        c.cookie = cookieValue(r.setCookie) ?? c.cookie
        c.sessionId = String(r.body.sessionId)
        if (count <= c.acked)
          result.staleReads.push({
            session: c.sessionId,
            acked: c.acked,
            answered: count,
            node: String(r.body.node),
            at: Date.now(),
            ackedBy: c.ackedBy,
          })
        else if (count > c.acked + 1 + c.unanswered)
          result.jumps.push({
            session: c.sessionId,
            acked: c.acked,
            answered: count,
            unanswered: c.unanswered,
          })
        if (count > c.acked) c.ackedBy = String(r.body.node)
        c.acked = Math.max(c.acked, count)
        c.unanswered = 0
        result.acknowledged++
      } catch {
        result.failed++
        c.unanswered++
        await new Promise((r) => setTimeout(r, 50))
      }
    }
  }
  const done = Promise.all(result.clients.map(run))
  return {
    result,
    async stop(): Promise<CounterLoadResult> {
      stopped = true
      await done
      return result
    },
  }
}
