/**
 * The dashboard's live feed: server-sent events, one stream per open page. One timer per node takes
 * a snapshot every `intervalMs` (1 s) while at least one stream is open — computed and serialized
 * once, written to every stream — and stops when the last one closes.
 *
 * Bounds (docs/limits.md): at most `maxStreams` (MAX_STREAMS, 16) streams at once; `open` refuses
 * one more (the route answers 503 CATTERY_ERR_DASHBOARD_BUSY). A stream whose socket still holds more
 * than `maxBufferedBytes` (1 MiB) unsent is skipped for that snapshot (counted) rather than queued:
 * a slow page sees fewer updates, the node's memory does not grow.
 */
import type { ServerResponse } from 'node:http'

const MAX_STREAMS = 16
const SNAPSHOT_INTERVAL_MS = 1000
const MAX_BUFFERED_BYTES = 1024 * 1024

export interface DashboardStreamsOptions {
  /** The snapshot to send (any JSON value); called once per interval while streams are open. */
  snapshot: () => unknown
  intervalMs?: number
  maxStreams?: number
  maxBufferedBytes?: number
}

export interface DashboardStreamStats {
  open: number
  refused: number
  skipped: number
  snapshots: number
}

export class DashboardStreams {
  readonly #snapshot: () => unknown
  readonly #intervalMs: number
  readonly #maxStreams: number
  readonly #maxBuffered: number
  readonly #streams = new Set<ServerResponse>()
  readonly #counts = { refused: 0, skipped: 0, snapshots: 0 }
  #timer: NodeJS.Timeout | undefined
  /** The last event written, and when: a stream opened meanwhile gets it at once. */
  #last: { at: number; event: string } | undefined

  constructor(o: DashboardStreamsOptions) {
    this.#snapshot = o.snapshot
    this.#intervalMs = o.intervalMs ?? SNAPSHOT_INTERVAL_MS
    this.#maxStreams = o.maxStreams ?? MAX_STREAMS
    this.#maxBuffered = o.maxBufferedBytes ?? MAX_BUFFERED_BYTES
  }

  get maxStreams(): number {
    return this.#maxStreams
  }

  /** MAX_STREAMS are open: `open` would refuse. */
  get full(): boolean {
    return this.#streams.size >= this.#maxStreams
  }

  /** Starts an event stream on `res`; false (and nothing written) when MAX_STREAMS are open. */
  open(res: ServerResponse): boolean {
    if (this.full) {
      this.#counts.refused++
      return false
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      connection: 'keep-alive',
    })
    // How long a browser's EventSource waits before reconnecting (the page's own reader does likewise).
    res.write(`retry: ${2 * this.#intervalMs}\n\n`)
    this.#streams.add(res)
    const forget = () => this.#close(res)
    res.once('close', forget)
    res.once('error', forget)
    const fresh = this.#last && Date.now() - this.#last.at < this.#intervalMs
    res.write(fresh ? (this.#last as { event: string }).event : this.#take())
    this.#timer ??= setInterval(() => this.#tick(), this.#intervalMs)
    this.#timer.unref()
    return true
  }

  stats(): DashboardStreamStats {
    return { open: this.#streams.size, ...this.#counts }
  }

  /** Ends every stream (the admin server is closing). */
  closeAll(): void {
    for (const res of [...this.#streams]) {
      this.#close(res)
      res.end()
    }
  }

  #tick(): void {
    const event = this.#take()
    for (const res of this.#streams) {
      if (res.writableLength > this.#maxBuffered) this.#counts.skipped++
      else res.write(event)
    }
  }

  #take(): string {
    const event = `event: snapshot\ndata: ${JSON.stringify(this.#snapshot())}\n\n`
    this.#counts.snapshots++
    this.#last = { at: Date.now(), event }
    return event
  }

  #close(res: ServerResponse): void {
    this.#streams.delete(res)
    if (this.#streams.size === 0) {
      clearInterval(this.#timer)
      this.#timer = undefined
      this.#last = undefined
    }
  }
}
