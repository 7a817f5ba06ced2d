import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'
import pino from 'pino'
import { diff, type Seen, WarWatcher, type WatchChange } from '../../../node/farm/watcher.ts'

const seen = (mtimeMs: number, size = 10): Seen => ({ mtimeMs, size })
const m = (o: Record<string, Seen>) => new Map(Object.entries(o))

describe('the farm watcher (WarWatcher)', () => {
  it('reports what the first look finds at once', () => {
    const r = diff(m({}), m({}), m({ 'a.tgz': seen(1) }), true)
    assert.deepEqual(r.changes, [{ kind: 'added', file: 'a.tgz', seen: seen(1) }])
  })

  it('reports a new or modified file only once it stayed the same for one look', () => {
    const first = diff(m({ 'a.tgz': seen(1) }), m({}), m({ 'a.tgz': seen(2), 'b.tgz': seen(1) }), false)
    assert.deepEqual(first.changes, [])
    const growing = diff(
      m({ 'a.tgz': seen(1) }),
      first.pending,
      m({ 'a.tgz': seen(2), 'b.tgz': seen(1, 20) }),
      false,
    )
    assert.deepEqual(growing.changes, [{ kind: 'modified', file: 'a.tgz', seen: seen(2) }])
    const stable = diff(
      m({ 'a.tgz': seen(2) }),
      growing.pending,
      m({ 'a.tgz': seen(2), 'b.tgz': seen(1, 20) }),
      false,
    )
    assert.deepEqual(stable.changes, [{ kind: 'added', file: 'b.tgz', seen: seen(1, 20) }])
  })

  it('reports a removal at once', () => {
    const r = diff(m({ 'a.tgz': seen(1) }), m({}), m({}), false)
    assert.deepEqual(r.changes, [{ kind: 'removed', file: 'a.tgz' }])
  })

  it('names archives as applications, follows links, and skips hidden and other files', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cattery-watch-'))
    writeFileSync(path.join(dir, 'shop#v2.tgz'), 'x')
    writeFileSync(path.join(dir, '.hidden.tgz'), 'x')
    writeFileSync(path.join(dir, 'notes.txt'), 'x')
    writeFileSync(path.join(dir, '..data-target'), 'y')
    symlinkSync(path.join(dir, '..data-target'), path.join(dir, 'cart.tar.gz'))
    const changes: WatchChange[] = []
    const w = new WarWatcher(dir, 1000, async (c) => void changes.push(c), pino({ level: 'silent' }))
    await w.check()
    assert.deepEqual(changes.map((c) => [c.kind, c.name, 'initial' in c && c.initial]).sort(), [
      ['added', 'cart', true],
      ['added', 'shop#v2', true],
    ])
    changes.length = 0
    rmSync(path.join(dir, 'cart.tar.gz'))
    utimesSync(path.join(dir, 'shop#v2.tgz'), new Date(), new Date(Date.now() + 5000))
    await w.check()
    await w.check()
    assert.deepEqual(changes.map((c) => [c.kind, c.name]).sort(), [
      ['modified', 'shop#v2'],
      ['removed', 'cart'],
    ])
  })
})
