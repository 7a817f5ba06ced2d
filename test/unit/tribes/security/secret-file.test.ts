import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { codes } from '../../../../node/tribes/errors.ts'
import { MAX_SECRETS } from '../../../../node/tribes/security/keys.ts'
import { parseSecretFile } from '../../../../node/tribes/security/secret-file.ts'

const OLD = 'o'.repeat(32)
const NEW = 'n'.repeat(44)
const SHORT = 'short-but-secret'
const many = (n: number) => Array.from({ length: n }, (_, i) => `${i}${OLD}`)

describe('the cluster secret file', () => {
  const accepted: Array<[string, string, string[]]> = [
    ['one secret', `${OLD}\n`, [OLD]],
    ['one secret without a newline, padded', `  ${OLD}  `, [OLD]],
    ['two secrets, the primary first', `${OLD}\n${NEW}\n`, [OLD, NEW]],
    ['blank lines and CRLF ignored', `\n\r\n${NEW}\r\n   \n${OLD}\r\n\n`, [NEW, OLD]],
    [`${MAX_SECRETS} secrets`, many(MAX_SECRETS).join('\n'), many(MAX_SECRETS)],
  ]
  for (const [name, content, want] of accepted) {
    it(`reads ${name}`, () => assert.deepEqual(parseSecretFile(content), want))
  }

  const refused: Array<[string, string, RegExp]> = [
    [
      'a secret too short on line 2',
      `${OLD}\n${SHORT}\n`,
      /^line 2 holds a secret of 16 characters; at least 32/,
    ],
    ['a short secret after blank lines (counted)', `\n\n${SHORT}`, /^line 3 holds a secret of 16/],
    [
      `more than ${MAX_SECRETS} secrets`,
      many(MAX_SECRETS + 1).join('\n\n'),
      /^line 9 holds secret 5; a member holds at most 4/,
    ],
    ['an empty file', '', /^the file holds no secret$/],
    ['blank lines only', '\n  \n\t\n', /^the file holds no secret$/],
  ]
  for (const [name, content, message] of refused) {
    it(`refuses ${name} with CLUSTER_SECRET, saying where and not echoing a secret`, () => {
      assert.throws(
        () => parseSecretFile(content),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, codes.CLUSTER_SECRET)
          assert.match(err.message, message)
          for (const secret of [OLD, SHORT]) assert.ok(!err.message.includes(secret), 'echoes a secret')
          return true
        },
      )
    })
  }
})
