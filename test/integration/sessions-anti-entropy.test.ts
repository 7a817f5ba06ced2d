/**
 * Anti-entropy on real node processes (node/session/anti-entropy.ts), under the DeltaManager and the
 * BackupManager: while the view holds still, a member that lacks copies it should hold gets them
 * from the other member's digests, with no view change (so no repair pass) and no re-sync. Here it
 * refused new sessions at its `manager.maxActiveSessions` (asynchronous replication: the sender is
 * not told), then made room when older sessions were invalidated: nothing but anti-entropy sends it
 * the sessions it refused (with anti-entropy off, it never gets them).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  cookieOf,
  formed,
  getJson,
  type HttpNode,
  planCluster,
  started,
  startHttpNode,
  status,
  until,
} from '../helpers/http-nodes.ts'

const ANTI_ENTROPY_MS = 2_000
const ROOM = 10

/** Node `n`'s copy of session `id` (admin API: read without touching it), or undefined. */
async function copyOn(n: HttpNode, id: string): Promise<object | undefined> {
  const r = await getJson(`http://127.0.0.1:${n.admin}/sessions/${encodeURIComponent(id)}?context=/demo`)
  return r.status === 200 ? r.body : undefined
}

/** The /demo context's manager stats on `n`. */
const stats = async (n: HttpNode) =>
  (await status(n)).contexts.find((c: { path: string }) => c.path === '/demo').stats

for (const [kind, args] of [
  ['DeltaManager', ['--manager', 'delta', '--send-options', 'async']],
  ['BackupManager (k=1)', ['--manager', 'backup', '--map-send-options', 'async']],
] as const)
  describe(`anti-entropy on 2 node processes, ${kind}, asynchronous replication`, () => {
    let nodes: HttpNode[] = []
    before(async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'cattery-ae-'))
      const config = (name: string, manager: string) => {
        const file = path.join(dir, `${name}.yaml`)
        writeFileSync(file, `manager:\n  antiEntropyInterval: ${ANTI_ENTROPY_MS}\n${manager}`)
        return ['--config', file]
      }
      const plan = await planCluster(2, [...args])
      nodes = await Promise.all([
        startHttpNode(plan, 0, config('n1', '')),
        startHttpNode(plan, 1, config('n2', `  maxActiveSessions: ${ROOM}\n`)),
      ])
      await Promise.all(nodes.map((n) => started(n, 60_000)))
      await formed(nodes, 30_000)
    })
    after(() => Promise.all(nodes.map((n) => n.process.stop('SIGKILL'))))

    it('sessions a member refused reach it through the digests once it has room, without a view change', async () => {
      const [n1, n2] = nodes as [HttpNode, HttpNode]
      // n1 sent digests: its view is settled (under the BackupManager, the repair pass after start,
      // which pushes every copy, is over).
      await until('n1 sent digests', async () => (await stats(n1)).antiEntropy.antiEntropyRounds >= 1, 20_000)
      const logFrom = n1.process.lines.length
      /** ROOM new sessions on n1: with an attribute, or (`empty`) none. */
      const create = async (prefix: string, empty = false) => {
        const out: Array<{ id: string; cookie: string }> = []
        for (let i = 0; i < ROOM; i++) {
          const r = await getJson(
            `http://127.0.0.1:${n1.http}/demo/${empty ? 'get' : `set?k=v&v=${prefix}-${i}`}`,
          )
          assert.equal(r.status, 200)
          out.push({ id: r.body.sessionId, cookie: cookieOf(r.setCookie) })
        }
        return out
      }
      const first = await create('first')
      await until('n2 holds the first sessions', async () => (await stats(n2)).active === ROOM)
      // n2 is full: it refuses the next ones (n1, sending asynchronously, is not told). They hold no
      // attribute, so no change follows their creation: a change of a session n2 lacks would be held
      // and, after the hold timeout, bring a re-sync of n2's share from n1 (replica-log.ts) — another
      // way back, but not the one under test.
      const refused = await create('refused', true)
      await until('n2 refused them', async () => (await stats(n2)).refused['too-many-sessions'] === ROOM)
      for (const s of refused) assert.equal(await copyOn(n2, s.id), undefined)
      // Room again: the first sessions end.
      for (const s of first)
        assert.equal((await getJson(`http://127.0.0.1:${n1.http}/demo/invalidate`, s.cookie)).status, 200)
      await until('n2 dropped the ended sessions', async () => (await stats(n2)).active === 0)
      const missing = async () =>
        (await Promise.all(refused.map((s) => copyOn(n2, s.id)))).filter((c) => !c).length
      assert.equal(await missing(), ROOM, 'no repair pass sent them')
      await until(
        'n2 holds the refused sessions',
        async () => (await missing()) === 0,
        4 * ANTI_ENTROPY_MS + 10_000,
      )
      assert.equal((await stats(n1)).antiEntropy.copiesRepaired, ROOM, 'pushed by anti-entropy')
      assert.equal((await stats(n2)).resyncs, 0, 'not by a re-sync')
      const gone = n1.process.lines.slice(logFrom).filter((l) => l.event === 'member-disappeared')
      assert.deepEqual(gone, [], 'n1 never lost n2 from its view')
    })
  })
