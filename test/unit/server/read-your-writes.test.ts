import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  catchUpWithClient,
  versionCookieHeader,
  versionCookieName,
  versionCookieValue,
} from '../../../node/server/read-your-writes.ts'
import type { SessionManager } from '../../../node/session/manager.ts'
import { compareRank, parseRank } from '../../../node/session/rank.ts'

test('the version cookie is named after the session cookie and reads <version>.<writer>; anything else is ignored', () => {
  assert.equal(versionCookieName('JSESSIONID'), 'JSESSIONID_V')
  assert.deepEqual(parseRank('12.0a1f'), { version: 12, writer: '0a1f' })
  for (const bad of [
    undefined,
    '',
    '12',
    '0.ab',
    '-1.ab',
    '1.AB',
    '1.x',
    `1.${'a'.repeat(65)}`,
    '99999999999999999.ab',
  ])
    assert.equal(parseRank(bad), undefined, String(bad))
})

test('ranks order by version, then by writer', () => {
  assert.ok(compareRank({ version: 3, writer: 'aa' }, { version: 2, writer: 'ff' }) > 0)
  assert.ok(compareRank({ version: 3, writer: 'ab' }, { version: 3, writer: 'aa' }) > 0)
  assert.equal(compareRank({ version: 3, writer: 'aa' }, { version: 3, writer: 'aa' }), 0)
})

function manager(held: { version: number; writer: string } | undefined) {
  const calls: string[] = []
  const m = {
    peekSession: () => held,
    catchUp: async () => {
      calls.push('catchUp')
      return 'caught-up'
    },
  } as unknown as SessionManager
  return { m, calls }
}

test('the sticky path (the copy held is as new as the cookie) does not wait', async () => {
  const { m, calls } = manager({ version: 7, writer: 'bb' })
  assert.deepEqual(catchUpWithClient(m, 'S1.a', '7.aa'), { seen: { version: 7, writer: 'aa' } })
  assert.deepEqual(calls, [])
})

test('a copy older than the cookie, or none, waits for the manager to catch up', async () => {
  for (const held of [{ version: 6, writer: 'ff' }, undefined]) {
    const { m, calls } = manager(held)
    assert.equal(await catchUpWithClient(m, 'S1.a', '7.aa').wait, 'caught-up')
    assert.deepEqual(calls, ['catchUp'])
  }
})

test('a response sets the version cookie only when the client has not seen that state', () => {
  assert.equal(versionCookieValue({ version: 7, writer: 'aa' }, { version: 7, writer: 'aa' }), undefined)
  assert.equal(versionCookieValue({ version: 8, writer: 'bb' }, { version: 7, writer: 'aa' }), '8.bb')
  assert.equal(versionCookieValue({ version: 1, writer: 'aa' }, undefined), '1.aa')
})

test('the version cookie carries the session cookie attributes', () => {
  const header = versionCookieHeader({
    name: 'SID',
    path: '/shop',
    httpOnly: true,
    secure: true,
    sameSite: 'strict',
  })
  assert.equal(header('3.ab'), 'SID_V=3.ab; Path=/shop; HttpOnly; Secure; SameSite=Strict')
  assert.equal(
    versionCookieHeader({ name: 'SID', httpOnly: false, secure: false })('1.a'),
    'SID_V=1.a; Path=/',
  )
})
