/**
 * A bounded client load that checks every answer: `sessions` clients, each incrementing its own
 * session's counter (`/demo/inc`) in sequence, a new connection per request (so a Service without
 * affinity spreads them over its pods, as a non-sticky balancer would). Each client remembers the last
 * value acknowledged to it and how many of its requests failed without an answer since (those may or
 * may not have been applied). An answer below or at the last acknowledged value is a stale read; the
 * final value of a session below its last acknowledged one is a lost increment.
 *
 * A connection that closes or is refused before an answer (a stopping pod) is retried once, as a
 * browser would; `retried` counts those. A failed request is one that still got no answer, or got an
 * answer other than 200 (a 5xx), or none within the timeout: `failedBy` says which.
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
  /** Requests without a 200 answer, after the one retry of a closed connection. */
  failed: number
  /** The failed requests by cause: an answer other than 200, no answer in time, a closed connection. */
  failedBy: { status: number; timeout: number; closed: number; other: number }
  /** The first failures (at most 20), for a report. */
  failures: Array<{ at: number; cause: FailureCause; message: string }>
  /** Requests whose connection closed before an answer and which were sent again, once. */
  retried: number
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
    req.on('timeout', () =>
      req.destroy(
        Object.assign(new Error(`no answer from ${url} within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }),
      ),
    )
    req.on('error', reject)
  })
}

const cookieValue = (setCookie: string | undefined) => /^(JSESSIONID=[^;]+)/.exec(setCookie ?? '')?.[1]

type FailureCause = keyof CounterLoadResult['failedBy']
/** Errors of a connection closed or refused before any answer: what a stopping pod causes. */
const CLOSED = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'EHOSTUNREACH'])
const causeOf = (err: NodeJS.ErrnoException): FailureCause =>
  err.code === 'ETIMEDOUT' ? 'timeout' : CLOSED.has(err.code ?? '') ? 'closed' : 'other'
class BadStatus extends Error {}

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
    failedBy: { status: 0, timeout: 0, closed: 0, other: 0 },
    failures: [],
    retried: 0,
    staleReads: [],
    jumps: [],
  }
  const inc = (c: CounterClient) => getOnce(`${baseUrl()}/demo/inc`, c.cookie)
  const run = async (c: CounterClient) => {
    while (!stopped) {
      result.requests++
      try {
        const r = await inc(c).catch((err: NodeJS.ErrnoException) => {
          if (causeOf(err) !== 'closed') throw err
          // It may have been applied before the connection closed: the retry's answer may skip one.
          c.unanswered++
          result.retried++
          return inc(c)
        })
        if (r.status !== 200) throw new BadStatus(`HTTP ${r.status}: ${JSON.stringify(r.body).slice(0, 200)}`)
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
      } catch (err) {
        const cause = err instanceof BadStatus ? 'status' : causeOf(err as NodeJS.ErrnoException)
        result.failed++
        result.failedBy[cause]++
        if (result.failures.length < 20)
          result.failures.push({ at: Date.now(), cause, message: (err as Error).message })
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
