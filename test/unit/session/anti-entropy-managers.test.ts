/**
 * Anti-entropy between two members whose view holds still (node/session/anti-entropy.ts), under the
 * DeltaManager and the BackupManager: a copy or an end that one member missed — here a send that
 * reported success but never arrived, as an asynchronous send lost with a broken connection does —
 * reaches it through the digests, with no view change (and so no repair pass) and no later change
 * of the session to reveal it. The two managers are wired to each other through an in-memory
 * channel pair (the unit seam); every message goes through their receive().
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises'
import { viewHash } from '../../../node/session/anti-entropy.ts'
import type { ManagerMessage } from '../../../node/session/cluster-manager.ts'
import { SESSION_MESSAGE } from '../../../node/session/messages.ts'
import { PlacementView } from '../../../node/session/placement.ts'
import { writerOf } from '../../../node/session/rank.ts'
import type { ReplicatedManager } from '../../../node/session/replicated-manager.ts'
import type { Member } from '../../../node/tribes/member.ts'
import { replicatedManager, viewChannel } from '../../helpers/managers.ts'

type Kind = 'delta' | 'backup'

/** Two members, each the other's only peer (both hold every session); `lose` drops a message silently. */
function linkedPair(kind: Kind, lose: (message: Record<string, unknown>) => boolean) {
  const a = viewChannel([])
  const b = viewChannel([])
  const asPeer = (m: Member): Member => ({ ...m, ready: false })
  a.setMembers([asPeer(b.channel.localMember)])
  b.setMembers([asPeer(a.channel.localMember)])
  const managers: { a?: ReplicatedManager; b?: ReplicatedManager } = {}
  const wire = (from: typeof a, to: () => ReplicatedManager | undefined) => {
    from.channel.send = (async (
      _to: Member | Member[],
      message: Record<string, unknown>,
      options?: number,
    ) => {
      from.sent.push({ to: Array.isArray(_to) ? _to : [_to], message })
      if (lose(message)) return
      await to()?.receive(message as unknown as ManagerMessage, from.channel.localMember, options)
    }) as typeof from.channel.send
  }
  wire(a, () => managers.b)
  wire(b, () => managers.a)
  managers.a = replicatedManager(kind, a.channel, { antiEntropyInterval: 200 }) as ReplicatedManager
  managers.b = replicatedManager(kind, b.channel, { antiEntropyInterval: 200 }) as ReplicatedManager
  return {
    a: managers.a,
    b: managers.b,
    sentByA: a.sent,
    memberA: a.channel.localMember,
    memberB: b.channel.localMember,
  }
}

const until = async (what: () => boolean, ms: number): Promise<boolean> => {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) if (what()) return true
  return what()
}

const counter = (m: ReplicatedManager, name: string): number => m.stats().antiEntropy?.[name] ?? 0

/**
 * Starts both and waits until each sent its first digests: their view is settled (under the
 * BackupManager, the first repair pass, which pushes every copy when no view is settled yet, is
 * over), so what repairs a loss from then on is anti-entropy.
 */
async function settled(pair: ReturnType<typeof linkedPair>): Promise<void> {
  await Promise.all([pair.a.start(), pair.b.start()])
  const both = () => counter(pair.a, 'antiEntropyRounds') >= 1 && counter(pair.b, 'antiEntropyRounds') >= 1
  assert.ok(await until(both, 8_000), 'both sent digests within 8 s')
}

for (const kind of ['delta', 'backup'] as const)
  describe(`anti-entropy, ${kind === 'delta' ? 'DeltaManager' : 'BackupManager'}`, () => {
    test('a member that missed a new session gets its copy through the digests, without a view change', async () => {
      // Its creation and its first change are both lost: had the change arrived, b would hold it and
      // fetch the session when the hold ran out (a re-sync), a repair that would race the digests.
      const lost: string[] = []
      const pair = linkedPair(kind, (m) => {
        if (m.type !== 'created' && m.type !== 'delta') return false
        lost.push(m.type as string)
        return true
      })
      await settled(pair)
      try {
        const s = pair.a.createSession()
        s.set('cart', ['book'])
        await pair.a.requestCompleted(s, true)
        await nextTurn()
        assert.deepEqual(lost, ['created', 'delta'], 'the new session never reached b')
        assert.equal(pair.b.peekSession(s.id), undefined)
        assert.ok(
          await until(() => pair.b.peekSession(s.id) !== undefined, 8_000),
          'b holds the copy within 8 s',
        )
        assert.deepEqual(pair.b.peekSession(s.id)?.get('cart'), ['book'])
        // Counted once b confirmed the push, which comes a little after b installed the copy.
        assert.ok(await until(() => counter(pair.a, 'copiesRepaired') >= 1, 2_000), 'a pushed it')
        assert.equal(counter(pair.a, 'copiesRepaired'), 1, 'once')
      } finally {
        await Promise.all([pair.a.stop(), pair.b.stop()])
      }
    })

    test("a member that missed a session's end is told of it through the digests", async () => {
      // The invalidation's own message is lost; anti-entropy sends ends in a batch.
      const pair = linkedPair(kind, (m) => m.type === 'expired')
      await settled(pair)
      try {
        const s = pair.a.createSession()
        await pair.a.requestCompleted(s, true)
        await nextTurn() // the turn's messages leave together at its end
        assert.ok(pair.b.peekSession(s.id), 'b holds the copy')
        await pair.a.invalidate(s)
        assert.ok(pair.b.peekSession(s.id), 'the end never reached b')
        assert.ok(
          await until(() => pair.b.peekSession(s.id) === undefined, 8_000),
          'b dropped its copy within 8 s',
        )
        assert.ok(await until(() => counter(pair.a, 'endsRepaired') >= 1, 2_000), 'a told b of the end')
        assert.equal(counter(pair.a, 'endsRepaired'), 1, 'once')
      } finally {
        await Promise.all([pair.a.stop(), pair.b.stop()])
      }
    })

    test('members that hold the same copies exchange digests and push nothing', async () => {
      const pair = linkedPair(kind, () => false)
      await settled(pair)
      try {
        for (let i = 0; i < 50; i++) {
          const s = pair.a.createSession()
          s.set('n', i)
          await pair.a.requestCompleted(s, true)
        }
        const sent = pair.sentByA.length
        const rounds = () => counter(pair.a, 'antiEntropyRounds') + counter(pair.b, 'antiEntropyRounds')
        const before = rounds()
        assert.ok(await until(() => rounds() >= before + 4, 8_000), 'four more rounds within 8 s')
        for (const m of [pair.a, pair.b]) {
          assert.equal(counter(m, 'digestsDiffering'), 0)
          assert.equal(counter(m, 'copiesRepaired'), 0)
        }
        const since = pair.sentByA.slice(sent).map((x) => x.message.type)
        assert.ok(since.includes('digest'), 'a sent digests')
        assert.deepEqual(
          since.filter((t) => t !== 'digest'),
          [],
          'and nothing else',
        )
      } finally {
        await Promise.all([pair.a.stop(), pair.b.stop()])
      }
    })

    test('a digest made over another view is ignored', async () => {
      const pair = linkedPair(kind, () => false)
      await Promise.all([pair.a.start(), pair.b.start()])
      try {
        const s = pair.a.createSession()
        await pair.a.requestCompleted(s, true)
        await nextTurn()
        const before = pair.sentByA.length
        const other = new PlacementView([writerOf(pair.memberA), 'ffffffffffffffff'])
        const sums = Array.from({ length: 256 }, () => 0)
        const digest = { k: SESSION_MESSAGE, type: 'digest', ctx: '/app', view: viewHash(other), sums }
        pair.a.receive(digest as ManagerMessage, pair.memberB)
        await sleep(50)
        assert.equal(counter(pair.a, 'digestsIgnored'), 1)
        assert.equal(pair.sentByA.length, before, 'no answer')
      } finally {
        await Promise.all([pair.a.stop(), pair.b.stop()])
      }
    })
  })
