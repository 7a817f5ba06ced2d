import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { roleCounts } from '../../../node/server/session-roles.ts'

describe('sessions by role, read from a context of /status whatever its shape', () => {
  const cases: Array<[string, unknown, ReturnType<typeof roleCounts>]> = [
    ['a DeltaManager context reports no roles', { sessions: 5, stats: { active: 5, created: 5 } }, {}],
    [
      'counts at the top of the context',
      { primary: 3, backup: 2, proxy: 7 },
      { primary: 3, backup: 2, proxy: 7 },
    ],
    ['counts in its stats', { stats: { primary: 1, backup: 4 } }, { primary: 1, backup: 4 }],
    [
      'counts named <role>Sessions',
      { stats: { primarySessions: 2, backupSessions: 2, proxySessions: 0 } },
      { primary: 2, backup: 2, proxy: 0 },
    ],
    [
      'plural names',
      { stats: { primaries: 1, backups: 2, proxies: 3 } },
      { primary: 1, backup: 2, proxy: 3 },
    ],
    ['an object of roles in stats', { stats: { roles: { primary: 9, proxy: 1 } } }, { primary: 9, proxy: 1 }],
    [
      'sessions as an object of counts',
      { sessions: { primary: 4, backup: 4, proxy: 8 } },
      { primary: 4, backup: 4, proxy: 8 },
    ],
    ['the context entry wins over stats', { primary: 1, stats: { primary: 2 } }, { primary: 1 }],
    [
      'what is not a count is ignored',
      { primary: '3', backup: -1, proxy: Number.NaN, stats: { backup: 2 } },
      { backup: 2 },
    ],
    ['not an object', undefined, {}],
  ]
  for (const [name, context, want] of cases)
    it(name, () => {
      assert.deepEqual(roleCounts(context), want)
    })
})
