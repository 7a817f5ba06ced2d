import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import type { ServerResponse } from 'node:http'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { DashboardStreams } from '../../../node/server/dashboard/event-stream.ts'

/** A response that records what is written to it; `writableLength` can be set to play a slow reader. */
class FakeResponse extends EventEmitter {
  status = 0
  headers: Record<string, string> = {}
  written: string[] = []
  writableLength = 0
  ended = false
  writeHead(status: number, headers: Record<string, string>) {
    this.status = status
    this.headers = headers
    return this
  }
  write(chunk: string) {
    this.written.push(chunk)
    return true
  }
  end() {
    this.ended = true
    this.emit('close')
  }
  snapshots(): unknown[] {
    return this.written
      .filter((w) => w.startsWith('event: snapshot'))
      .map((w) => JSON.parse(w.split('data: ')[1] as string))
  }
}

const open = (streams: DashboardStreams) => {
  const res = new FakeResponse()
  return { res, ok: streams.open(res as unknown as ServerResponse) }
}

describe('dashboard event streams', () => {
  it('sends a snapshot at once, then one per interval, as server-sent events', async () => {
    let n = 0
    const streams = new DashboardStreams({ snapshot: () => ({ n: ++n }), intervalMs: 20 })
    const { res } = open(streams)
    assert.equal(res.status, 200)
    assert.match(res.headers['content-type'] ?? '', /^text\/event-stream/)
    assert.deepEqual(res.snapshots(), [{ n: 1 }])
    await sleep(70)
    assert.ok(res.snapshots().length >= 3, `${res.snapshots().length} snapshots`)
    streams.closeAll()
  })

  it('computes each snapshot once for all open streams', async () => {
    let taken = 0
    const streams = new DashboardStreams({ snapshot: () => ++taken, intervalMs: 20 })
    const pages = [open(streams).res, open(streams).res, open(streams).res]
    await sleep(90)
    streams.closeAll()
    // The first page's open took one; the others got that one; then one per tick for all three.
    assert.deepEqual(pages[1]?.snapshots(), pages[0]?.snapshots())
    assert.deepEqual(pages[2]?.snapshots(), pages[0]?.snapshots())
    assert.equal(taken, pages[0]?.snapshots().length)
  })

  it('refuses a stream beyond its bound and counts it; a closed stream frees its place', () => {
    const streams = new DashboardStreams({ snapshot: () => ({}), maxStreams: 2 })
    const a = open(streams)
    open(streams)
    const third = open(streams)
    assert.equal(third.ok, false)
    assert.equal(third.res.written.length, 0)
    assert.equal(streams.full, true)
    assert.deepEqual(
      { open: streams.stats().open, refused: streams.stats().refused },
      { open: 2, refused: 1 },
    )
    a.res.emit('close')
    assert.equal(open(streams).ok, true)
    streams.closeAll()
  })

  it('skips a stream whose reader is too slow instead of queueing for it', async () => {
    const streams = new DashboardStreams({ snapshot: () => ({}), intervalMs: 20, maxBufferedBytes: 100 })
    const slow = open(streams).res
    const fast = open(streams).res
    slow.writableLength = 1000
    await sleep(70)
    streams.closeAll()
    assert.equal(slow.snapshots().length, 1)
    assert.ok(fast.snapshots().length >= 3)
    assert.ok(streams.stats().skipped >= 2)
  })

  it('takes no snapshot while no stream is open', async () => {
    let taken = 0
    const streams = new DashboardStreams({ snapshot: () => ++taken, intervalMs: 10 })
    const { res } = open(streams)
    res.emit('close')
    const before = taken
    await sleep(50)
    assert.equal(taken, before)
  })

  it('ends every stream when the admin server closes', () => {
    const streams = new DashboardStreams({ snapshot: () => ({}) })
    const pages = [open(streams).res, open(streams).res]
    streams.closeAll()
    assert.ok(pages.every((p) => p.ended))
    assert.equal(streams.stats().open, 0)
  })
})
