import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { describe, it } from 'node:test'

const ROOT = path.resolve(import.meta.dirname, '../..')
const BUILT = path.join(ROOT, 'dist/node/main.js')

/** The part of the demo's output that one manager's story printed. */
function storyOf(out: string, title: string): string {
  const start = out.indexOf(`=== ${title} ===`)
  assert.ok(start >= 0, `no ${title} story in:\n${out}`)
  const next = out.indexOf('=== ', start + 4)
  return out.slice(start, next < 0 ? undefined : next)
}

describe('make demo', () => {
  it('tells the seed story with the DeltaManager, then with the BackupManager, and exits with --once', () => {
    assert.ok(existsSync(BUILT), `${BUILT} is missing: run npm run build (make test does)`)
    const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts/demo.ts'), '--once'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 240_000,
    })
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`)
    const delta = storyOf(r.stdout, 'DeltaManager')
    const backup = storyOf(r.stdout, 'BackupManager')
    for (const story of [delta, backup]) {
      assert.match(story, /the cluster has formed/)
      assert.match(story, /the same cookie on B: user=alice/)
      assert.match(story, /the same cookie on C: user=alice/)
      assert.match(story, /B noticed: A disappeared/)
      assert.match(story, /the cookie that named A, sent to B: user=alice/)
      assert.match(story, /B rebound the session to its own route: new cookie JSESSIONID=\w+\.B/)
      assert.match(story, /the first session read on D: user=alice/)
      assert.match(story, /gone from B, C and D \d+ ms later/)
    }
    // The DeltaManager's joiner holds every session; the BackupManager's only its share.
    const held = (story: string) => {
      const m = /holding (\d+) of (\d+) sessions/.exec(story)
      assert.ok(m, story)
      return { held: Number(m[1]), total: Number(m[2]) }
    }
    const d = held(delta)
    assert.equal(d.held, d.total)
    const b = held(backup)
    assert.ok(b.held < b.total, `the BackupManager's joiner holds ${b.held} of ${b.total}`)
    assert.match(backup, /held by [A-C] and [A-C] \(primary and backup\)/)
    assert.match(r.stdout, /done \(--once\)/)
  })
})
