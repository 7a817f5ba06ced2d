import assert from 'node:assert/strict'
import { mkdtempSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'
import { bearerMatches, decide, isLoopback, tokenSource } from '../../../node/server/admin-auth.ts'

const T = 'a-good-admin-token'

describe('admin access', () => {
  const cases: Array<[string, string, string | undefined, Parameters<typeof decide>[2], string]> = [
    ['probes need nothing', '/readyz', undefined, { token: T, address: '0.0.0.0', open: false }, 'allow'],
    [
      'liveness needs nothing',
      '/livez',
      undefined,
      { token: undefined, address: '::', open: false },
      'allow',
    ],
    [
      "the dashboard's page loads without a token (it holds no data)",
      '/dashboard/',
      undefined,
      { token: T, address: '0.0.0.0', open: false },
      'allow',
    ],
    [
      "the dashboard's script loads without a token",
      '/dashboard/dashboard.js',
      undefined,
      { token: T, address: '0.0.0.0', open: false },
      'allow',
    ],
    [
      "the dashboard's events need the token",
      '/dashboard/events',
      undefined,
      { token: T, address: '0.0.0.0', open: false },
      'bad-token',
    ],
    [
      'another path under /dashboard/ needs the token',
      '/dashboard/anything-else',
      undefined,
      { token: T, address: '0.0.0.0', open: false },
      'bad-token',
    ],
    ['the right token', '/status', `Bearer ${T}`, { token: T, address: '0.0.0.0', open: false }, 'allow'],
    [
      'a wrong token',
      '/status',
      'Bearer nope-nope-nope',
      { token: T, address: '0.0.0.0', open: false },
      'bad-token',
    ],
    [
      'a token set but none sent, even on loopback',
      '/metrics',
      undefined,
      { token: T, address: '127.0.0.1', open: false },
      'bad-token',
    ],
    [
      'a token set and open: the token still counts',
      '/status',
      undefined,
      { token: T, address: '0.0.0.0', open: true },
      'bad-token',
    ],
    ['another scheme', '/status', `Basic ${T}`, { token: T, address: '0.0.0.0', open: false }, 'bad-token'],
    [
      'no token on 0.0.0.0',
      '/status',
      undefined,
      { token: undefined, address: '0.0.0.0', open: false },
      'no-token-configured',
    ],
    [
      'no token on ::',
      '/sessions/x',
      undefined,
      { token: undefined, address: '::', open: false },
      'no-token-configured',
    ],
    [
      'no token on a pod IP',
      '/metrics',
      undefined,
      { token: undefined, address: '10.0.0.5', open: false },
      'no-token-configured',
    ],
    [
      'no token on 127.0.0.1',
      '/status',
      undefined,
      { token: undefined, address: '127.0.0.1', open: false },
      'allow',
    ],
    [
      'no token on 127.0.0.2',
      '/status',
      undefined,
      { token: undefined, address: '127.0.0.2', open: false },
      'allow',
    ],
    ['no token on ::1', '/status', undefined, { token: undefined, address: '::1', open: false }, 'allow'],
    [
      'no token, opened explicitly',
      '/status',
      undefined,
      { token: undefined, address: '0.0.0.0', open: true },
      'allow',
    ],
  ]
  for (const [what, path, auth, access, want] of cases) {
    it(`${what}: ${want}`, () => {
      const d = decide(path, auth, access)
      assert.equal(d.allow ? 'allow' : d.reason, want)
    })
  }

  it('says how to set a token when none is configured', () => {
    const d = decide('/status', undefined, { token: undefined, address: '0.0.0.0', open: false })
    assert.equal(d.allow, false)
    if (!d.allow)
      for (const s of ['--admin-token', 'CATTERY_ADMIN_TOKEN_FILE', '--admin-open', '127.0.0.1'])
        assert.ok(d.message.includes(s), s)
  })

  it('tells loopback addresses from the others', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1', 'localhost'])
      assert.equal(isLoopback(a), true, a)
    for (const a of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', undefined, ''])
      assert.equal(isLoopback(a), false, String(a))
  })

  it('matches a bearer token whatever the length of what was sent', () => {
    assert.equal(bearerMatches(`Bearer ${T}`, T), true)
    assert.equal(bearerMatches(`bearer ${T}`, T), true)
    assert.equal(bearerMatches(`Bearer ${T}x`, T), false)
    assert.equal(bearerMatches('Bearer ', T), false)
    assert.equal(bearerMatches(undefined, T), false)
    assert.equal(bearerMatches(T, T), false)
  })

  it('re-reads a token file when it changes and keeps the last good token when it turns bad', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'cattery-token-')), 'token')
    writeFileSync(file, `${T}\n`)
    const problems: string[] = []
    const token = tokenSource({ tokenFile: file }, (p) => problems.push(p), 0)
    assert.equal(token(), T)
    writeFileSync(file, 'rotated-token-2\n')
    utimesSync(file, new Date(), new Date(Date.now() + 5000))
    assert.equal(token(), 'rotated-token-2')
    writeFileSync(file, 'short')
    utimesSync(file, new Date(), new Date(Date.now() + 10_000))
    assert.equal(token(), 'rotated-token-2')
    assert.equal(problems.length, 1)
  })

  it('a token without a file is the configured one', () => {
    assert.equal(tokenSource({ token: T })(), T)
    assert.equal(tokenSource({})(), undefined)
  })
})

describe('admin writes (deploying applications)', () => {
  const cases: Array<[string, string | undefined, Parameters<typeof decide>[2], string]> = [
    ['the right token', `Bearer ${T}`, { token: T, address: '127.0.0.1', open: false }, 'allow'],
    ['a wrong token', 'Bearer nope-nope-nope', { token: T, address: '127.0.0.1', open: false }, 'bad-token'],
    [
      'no token configured, on loopback',
      undefined,
      { token: undefined, address: '127.0.0.1', open: false },
      'no-token-configured',
    ],
    [
      'no token configured, opened explicitly',
      undefined,
      { token: undefined, address: '0.0.0.0', open: true },
      'no-token-configured',
    ],
  ]
  for (const [name, authorization, access, want] of cases)
    it(`${name}: ${want}`, () => {
      const d = decide('/apps/shop', authorization, access, true)
      assert.equal(d.allow ? 'allow' : d.reason, want)
      if (!d.allow && want === 'no-token-configured')
        assert.match(d.message, /needs the admin token.*admin\.token/)
    })
})
