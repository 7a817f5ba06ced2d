import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { FarmEntry } from '../../../node/farm/farm-state.ts'
import { type CatchUpStatus, type FarmStatus, farmStatusOf } from '../../../node/farm/farm-status.ts'
import type { FarmReport } from '../../../node/farm/reports.ts'

const A = 'a'.repeat(64)
const B = 'b'.repeat(64)
const entry = (name: string, digest: string): FarmEntry => ({
  name,
  digest,
  size: 10,
  stamp: 5,
  origin: 'n1',
})
const ran = (member: string, name: string, digest: string | null): FarmReport => ({
  member,
  name,
  digest,
  ok: true,
  at: 1,
})
const refused = (member: string, name: string, digest: string | null): FarmReport => ({
  member,
  name,
  digest,
  ok: false,
  code: 'CATTERY_ERR_APP_REGISTER_FAILED',
  reason: 'no',
  at: 2,
})
const app = (name: string, digest: string, members: string[], failures: FarmStatus['refused'] = []) => ({
  name,
  digest,
  size: 10,
  stamp: 5,
  origin: 'n1',
  members,
  failures: failures.map(({ member, code, reason }) => ({ member, code, reason })),
})

describe('the farm section of /status', () => {
  const table: Array<[string, FarmEntry[], FarmReport[], Pick<FarmStatus, 'applications' | 'refused'>]> = [
    ['nothing deployed', [], [], { applications: [], refused: [] }],
    [
      'applications sorted by name, with the members that run their current digest, sorted',
      [entry('shop', A), entry('cart', B)],
      [ran('n2', 'shop', A), ran('n1', 'shop', A), ran('n3', 'shop', B), ran('n1', 'cart', B)],
      { applications: [app('cart', B, ['n1']), app('shop', A, ['n1', 'n2'])], refused: [] },
    ],
    [
      "a failure of the current digest is the application's; of another digest, refused",
      [entry('shop', A)],
      [ran('n1', 'shop', A), refused('n2', 'shop', A), refused('n1', 'shop', B), refused('n1', 'gone', null)],
      {
        applications: [app('shop', A, ['n1'], [refused('n2', 'shop', A)])],
        refused: [refused('n1', 'shop', B), refused('n1', 'gone', null)],
      },
    ],
  ]
  for (const [title, live, reports, expected] of table)
    it(title, () => {
      const s = farmStatusOf({
        catchUp: { state: 'ready', since: 7 },
        watchDir: '/watch',
        transfers: 1,
        live,
        reports,
      })
      assert.deepEqual(s, { state: 'ready', since: 7, watchDir: '/watch', transfers: 1, ...expected })
    })

  it('shows where the catch-up stands', () => {
    const catchUp: CatchUpStatus = { state: 'catching-up', since: 3, donor: 'n2', waitingFor: ['shop'] }
    const s = farmStatusOf({ catchUp, watchDir: undefined, transfers: 0, live: [], reports: [] })
    assert.deepEqual(s, {
      ...catchUp,
      watchDir: undefined,
      transfers: 0,
      applications: [],
      refused: [],
    })
  })
})
