import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { roleCounts } from '../../../node/server/session-roles.ts'

describe('sessions by role, from a context of /status', () => {
  const cases: Array<[string, Parameters<typeof roleCounts>[0], ReturnType<typeof roleCounts>]> = [
    ['a DeltaManager context reports no roles', { stats: {} }, {}],
    [
      'a BackupManager context reports its primary, backup and proxy copies',
      { stats: { primary: 3, backup: 2, proxy: 7 } },
      { primary: 3, backup: 2, proxy: 7 },
    ],
    ['missing backup and proxy counts are 0', { stats: { primary: 1 } }, { primary: 1, backup: 0, proxy: 0 }],
    ['a context without stats reports no roles', {}, {}],
  ]
  for (const [name, context, want] of cases)
    it(name, () => {
      assert.deepEqual(roleCounts(context), want)
    })
})
